package cluster

import (
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// TrustedProxies says which peers' forwarding headers to believe. A
// balancer in front of the nodes connects to them itself, so the
// request's RemoteAddr is the balancer's address; the client's is in a
// header the balancer adds. Any client can send that header too, so it is
// read only from requests whose RemoteAddr is a trusted proxy, and only
// the header the proxies are configured to set.
type TrustedProxies struct {
	// Prefixes are the addresses of the trusted proxies.
	Prefixes []netip.Prefix
	// Forwarded selects the RFC 7239 Forwarded header (its for=
	// parameters) instead of X-Forwarded-For. Read only the header your
	// balancer sets (and replaces or appends to): a header it does not
	// touch is entirely the client's.
	Forwarded bool
}

// ClientIP returns the address of the client that made r. When r came
// from a trusted proxy, it walks the addresses in the forwarding header
// from the right (the hop nearest to this server) past the trusted ones
// and returns the first untrusted one; if a value there is not an address
// ("unknown", an obfuscated name) it stops at the last trusted hop. When
// r did not come from a trusted proxy, or the header is absent, it returns
// r.RemoteAddr's address. It returns the zero Addr if RemoteAddr is not an
// IP address (a Unix socket).
func (tp TrustedProxies) ClientIP(r *http.Request) netip.Addr {
	peer, ok := parseHost(r.RemoteAddr)
	if !ok {
		return netip.Addr{}
	}
	if !tp.trusted(peer) {
		return peer
	}
	var chain []string
	if tp.Forwarded {
		chain = forwardedFor(r.Header.Values("Forwarded"))
	} else {
		for _, line := range r.Header.Values("X-Forwarded-For") {
			chain = append(chain, strings.Split(line, ",")...)
		}
	}
	cur := peer
	for i := len(chain) - 1; i >= 0; i-- {
		a, ok := parseHost(strings.TrimSpace(chain[i]))
		if !ok {
			return cur
		}
		if !tp.trusted(a) {
			return a
		}
		cur = a
	}
	return cur
}

func (tp TrustedProxies) trusted(a netip.Addr) bool {
	for _, p := range tp.Prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor returns the for= values of Forwarded header lines, one per
// element, in order. Elements are split at commas and pairs at semicolons
// outside quoted strings, and a quoted value is unquoted (RFC 7239 section
// 4). Each line is read from its end: what a proxy appended is parsed as
// it wrote it whatever the client put to its left, so a quote the client
// left open cannot swallow it; the element holding such a quote names no
// address.
func forwardedFor(lines []string) []string {
	var out []string
	for _, line := range lines {
		first := len(out)
		v, end, quoted := "", len(line), false
		for i := len(line) - 1; i >= -1; i-- {
			if i >= 0 {
				c := line[i]
				if c == '"' && !escaped(line, i) {
					quoted = !quoted
				}
				if quoted || (c != ',' && c != ';') {
					continue
				}
			}
			// line[i+1:end] is a pair; within an element, the last for= counts.
			if val, ok := forValue(line[i+1 : end]); ok && v == "" && !quoted {
				v = val
			}
			end = i
			if i < 0 || line[i] == ',' {
				if v == "" || quoted {
					v = "unknown" // an element without for= names no address
				}
				out = append(out, v)
				v = ""
			}
		}
		slices.Reverse(out[first:])
	}
	return out
}

// escaped reports whether s[i] follows an odd run of backslashes, which
// makes it a quoted-pair's second byte.
func escaped(s string, i int) bool {
	n := 0
	for i > 0 && s[i-1] == '\\' {
		n++
		i--
	}
	return n%2 == 1
}

// forValue returns the value of pair, unquoted, if pair is a for= pair.
func forValue(pair string) (string, bool) {
	k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(k), "for") {
		return "", false
	}
	val = strings.TrimSpace(val)
	if len(val) < 2 || val[0] != '"' || val[len(val)-1] != '"' {
		return val, true
	}
	var b strings.Builder
	for i := 1; i < len(val)-1; i++ {
		if val[i] == '\\' && i+1 < len(val)-1 {
			i++
		}
		b.WriteByte(val[i])
	}
	return b.String(), true
}

// parseHost reads an address with or without a port, IPv6 in brackets or
// not, and unmaps IPv4-mapped IPv6.
func parseHost(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
