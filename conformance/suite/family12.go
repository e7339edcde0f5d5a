package suite

import (
	"fmt"
	"strings"
	"time"
)

// compressionSize is one row of Autobahn's table for the 12.* and 13.*
// cases: message size, case time limit and auto-fragment size.
type compressionSize struct {
	len  int
	wait time.Duration
	frag int
}

// compressionSizes is Autobahn's table; each case sends 1000 messages.
var compressionSizes = []compressionSize{
	{16, 60 * sec, 0}, {64, 60 * sec, 0}, {256, 120 * sec, 0}, {1024, 240 * sec, 0}, {4096, 480 * sec, 0},
	{8192, 480 * sec, 0}, {16384, 480 * sec, 0}, {32768, 480 * sec, 0}, {65536, 480 * sec, 0}, {131072, 480 * sec, 0},
	{8192, 480 * sec, 256}, {16384, 480 * sec, 256}, {32768, 480 * sec, 256}, {65536, 480 * sec, 256}, {131072, 480 * sec, 256},
	{131072, 480 * sec, 1024}, {131072, 480 * sec, 4096}, {131072, 480 * sec, 32768},
}

// The message counts of the compression cases.
const (
	compressionCount      = 1000
	compressionQuickCount = 5
)

// defaultOffer is Autobahn's default permessage-deflate offer: the client
// declares it will not use context takeover and accepts a limit on its
// window ("permessage-deflate; client_no_context_takeover;
// client_max_window_bits").
var defaultOffer = DeflateParams{ClientNoContextTakeover: true, HasClientMaxWindowBits: true}

// offerWith returns the default offer requesting the server-direction
// parameters.
func offerWith(serverNoContextTakeover bool, serverMaxWindowBits int) DeflateParams {
	o := defaultOffer
	o.ServerNoContextTakeover, o.ServerMaxWindowBits = serverNoContextTakeover, serverMaxWindowBits
	return o
}

// deflateVariants are the parameter sets of 13.1–13.7, as in Autobahn's
// current version (which uses window bits 9 where older versions used 8,
// since zlib no longer accepts a raw deflate window of 8 bits).
var deflateVariants = []DeflateSpec{
	{Offers: []DeflateParams{defaultOffer}, Accept: []DeflateAccept{{}}},
	{Offers: []DeflateParams{offerWith(true, 0)}, Accept: []DeflateAccept{{ClientNoContextTakeover: true}}},
	{Offers: []DeflateParams{offerWith(false, 9)}, Accept: []DeflateAccept{{ClientMaxWindowBits: 9}}},
	{Offers: []DeflateParams{offerWith(false, 15)}, Accept: []DeflateAccept{{ClientMaxWindowBits: 15}}},
	{Offers: []DeflateParams{offerWith(true, 9)}, Accept: []DeflateAccept{{ClientNoContextTakeover: true, ClientMaxWindowBits: 9}}},
	{Offers: []DeflateParams{offerWith(true, 15)}, Accept: []DeflateAccept{{ClientNoContextTakeover: true, ClientMaxWindowBits: 15}}},
	{Offers: []DeflateParams{offerWith(true, 9), offerWith(true, 0), defaultOffer},
		Accept: []DeflateAccept{{ClientNoContextTakeover: true, ClientMaxWindowBits: 9}, {ClientNoContextTakeover: true}, {}}},
}

// describeDeflate says in words what the suite offers and accepts.
func describeDeflate(d *DeflateSpec) string {
	pairs := func(n int, f func(i int) (bool, int)) string {
		parts := make([]string, n)
		for i := range parts {
			nct, bits := f(i)
			parts[i] = fmt.Sprintf("(%v, %d)", nct, bits)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	offers := pairs(len(d.Offers), func(i int) (bool, int) { return d.Offers[i].ServerNoContextTakeover, d.Offers[i].ServerMaxWindowBits })
	accepts := pairs(len(d.Accept), func(i int) (bool, int) { return d.Accept[i].ClientNoContextTakeover, d.Accept[i].ClientMaxWindowBits })
	rules := make([]string, len(d.Accept))
	for i, a := range d.Accept {
		p := DeflateParams{ClientNoContextTakeover: a.ClientNoContextTakeover, HasClientMaxWindowBits: a.ClientMaxWindowBits != 0, ClientMaxWindowBits: a.ClientMaxWindowBits}
		rules[i] = strings.TrimPrefix(strings.TrimPrefix(p.String(), deflateExtension), "; ")
		if rules[i] == "" {
			rules[i] = "nothing"
		}
	}
	return fmt.Sprintf("client offers (requestNoContextTakeover, requestMaxWindowBits): %s / server accept (requestNoContextTakeover, requestMaxWindowBits): %s. "+
		"As client the suite sends %q; as server it accepts the client's first fitting offer, granting its server parameters and adding %s.",
		offers, accepts, d.offerHeader(), strings.Join(rules, ", or else "))
}

func familyCompression(quick bool) []*Case {
	count := compressionCount
	note := ""
	if quick {
		count = compressionQuickCount
		note = fmt.Sprintf(" (quick mode: %d messages instead of %d)", compressionQuickCount, compressionCount)
	}
	mk := func(id string, spec *DeflateSpec, data *dataset, s compressionSize, what string) *Case {
		limit := s.wait
		if quick {
			// 5 messages take a few seconds even under the race
			// detector; a silent peer should not cost a minute a case.
			limit = min(limit, 30*sec)
		}
		return &Case{
			ID: id,
			Description: fmt.Sprintf("Send %d compressed messages each of payload size %d, auto-fragment to %d octets. %s Data: %s.%s",
				count, s.len, s.frag, what, data.name, note),
			Expectation: fmt.Sprintf("Receive echo'ed messages (with payload as sent). Timeout case after %d secs. "+
				"UNIMPLEMENTED when the peer does not negotiate permessage-deflate.", int(limit/sec)),
			Steps:      steps(EchoStep{Data: data, Len: s.len, Count: count, FragSize: s.frag, Limit: limit}),
			Close:      closeNormal,
			ReportTime: true,
			Deflate:    spec,
			judge:      deflateEchoJudge,
		}
	}
	var cs []*Case
	for j, data := range compressionData {
		for i, s := range compressionSizes {
			cs = append(cs, mk(fmt.Sprintf("12.%d.%d", j+1, i+1), &deflateVariants[0], data, s, "Use default permessage-deflate offer."))
		}
	}
	for j := range deflateVariants {
		spec := &deflateVariants[j]
		for i, s := range compressionSizes {
			cs = append(cs, mk(fmt.Sprintf("13.%d.%d", j+1, i+1), spec, compressionData[0], s, "Use permessage-deflate "+describeDeflate(spec)))
		}
	}
	return cs
}
