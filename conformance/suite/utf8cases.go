package suite

import (
	"fmt"
	"unicode/utf8"
)

// utf8Group is one sub-family of the generated 6.5–6.23 cases: a titled list
// of byte sequences, each sent as one text message.
type utf8Group struct {
	title string
	seqs  []string
}

// kappa is the Greek word "κόσμε" in UTF-8, the sample text of Markus Kuhn's
// UTF-8 decoder stress test.
const kappa = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"

// utf8Groups returns the test sequences of Autobahn's cases 6.5.* to 6.23.*,
// which follow the sections of Markus Kuhn's UTF-8 decoder stress test. The
// validity of every sequence is decided by utf8.Valid, which implements the
// RFC 3629 definition that RFC 6455 refers to; a test checks that verdict
// against the expected one for each group.
func utf8Groups() []utf8Group {
	var prefixes []string
	for i := 1; i <= len(kappa); i++ {
		prefixes = append(prefixes, kappa[:i])
	}
	var unexpectedCont []string
	unexpectedCont = append(unexpectedCont, "\x80", "\xbf", "\x80\xbf", "\x80\xbf\x80", "\x80\xbf\x80\xbf",
		"\x80\xbf\x80\xbf\x80", "\x80\xbf\x80\xbf\x80\xbf")
	all := ""
	for c := 0x80; c < 0xbf; c++ {
		all += string([]byte{byte(c)})
	}
	unexpectedCont = append(unexpectedCont, all)
	var lonely []string
	for _, r := range [][2]int{{0xc0, 0xdf}, {0xe0, 0xef}, {0xf0, 0xf7}, {0xf8, 0xfb}, {0xfc, 0xfd}} {
		s := ""
		for c := r[0]; c < r[1]; c++ {
			s += string([]byte{byte(c), 0x20})
		}
		lonely = append(lonely, s)
	}
	missingLast := []string{"\xc0", "\xe0\x80", "\xf0\x80\x80", "\xf8\x80\x80\x80", "\xfc\x80\x80\x80\x80",
		"\xdf", "\xef\xbf", "\xf7\xbf\xbf", "\xfb\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf"}
	concat := ""
	for _, s := range missingLast {
		concat += s
	}
	nonChars := []string{"\xef\xbf\xbe", "\xef\xbf\xbf"}
	for _, z1 := range []byte{0xf0, 0xf1, 0xf2, 0xf3, 0xf4} {
		for _, z2 := range []byte{0x8f, 0x9f, 0xaf, 0xbf} {
			if z1 == 0xf4 && z2 != 0x8f {
				continue // above U+10FFFF
			}
			for _, z3 := range []byte{0xbe, 0xbf} {
				if z1 == 0xf0 && z2 == 0x8f {
					continue // overlong
				}
				nonChars = append(nonChars, string([]byte{z1, z2, 0xbf, z3}))
			}
		}
	}
	return []utf8Group{
		{"Some valid UTF-8 sequences", []string{"hello\x24world", "hello\xc2\xa2world", "hello\xe2\x82\xacworld", "hello\xf0\xa4\xad\xa2world", kappa}},
		{"All prefixes of a valid UTF-8 string that contains multi-byte code points", prefixes},
		{"First possible sequence of a certain length", []string{"\x00", "\xc2\x80", "\xe0\xa0\x80", "\xf0\x90\x80\x80"}},
		{"First possible sequence length 5/6 (invalid codepoints)", []string{"\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80"}},
		{"Last possible sequence of a certain length", []string{"\x7f", "\xdf\xbf", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf"}},
		{"Last possible sequence length 4/5/6 (invalid codepoints)", []string{"\xf7\xbf\xbf\xbf", "\xfb\xbf\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf\xbf"}},
		{"Other boundary conditions", []string{"\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80"}},
		{"Unexpected continuation bytes", unexpectedCont},
		{"Lonely start characters", lonely},
		{"Sequences with last continuation byte missing", missingLast},
		{"Concatenation of incomplete sequences", []string{concat}},
		{"Impossible bytes", []string{"\xfe", "\xff", "\xfe\xfe\xff\xff"}},
		{"Examples of an overlong ASCII character", []string{"\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xf8\x80\x80\x80\xaf", "\xfc\x80\x80\x80\x80\xaf"}},
		{"Maximum overlong sequences", []string{"\xc1\xbf", "\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf", "\xf8\x87\xbf\xbf\xbf", "\xfc\x83\xbf\xbf\xbf\xbf"}},
		{"Overlong representation of the NUL character", []string{"\xc0\x80", "\xe0\x80\x80", "\xf0\x80\x80\x80", "\xf8\x80\x80\x80\x80", "\xfc\x80\x80\x80\x80\x80"}},
		{"Single UTF-16 surrogates", []string{"\xed\xa0\x80", "\xed\xad\xbf", "\xed\xae\x80", "\xed\xaf\xbf", "\xed\xb0\x80", "\xed\xbe\x80", "\xed\xbf\xbf"}},
		{"Paired UTF-16 surrogates", []string{"\xed\xa0\x80\xed\xb0\x80", "\xed\xa0\x80\xed\xbf\xbf", "\xed\xad\xbf\xed\xb0\x80", "\xed\xad\xbf\xed\xbf\xbf",
			"\xed\xae\x80\xed\xb0\x80", "\xed\xae\x80\xed\xbf\xbf", "\xed\xaf\xbf\xed\xb0\x80", "\xed\xaf\xbf\xed\xbf\xbf"}},
		{"Non-character code points (valid UTF-8)", nonChars},
		{"Unicode specials (i.e. replacement char)", []string{"\xef\xbf\xb9", "\xef\xbf\xba", "\xef\xbf\xbb", "\xef\xbf\xbc", "\xef\xbf\xbd", "\xef\xbf\xbe", "\xef\xbf\xbf"}},
	}
}

func family6() []*Case {
	const helloUTF8 = "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!"
	const hello1, hello2 = "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4", "\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!"
	const bad1, bad2, bad3 = kappa, "\xf4\x90\x80\x80", "\x65\x64\x69\x74\x65\x64"
	const invalid63 = kappa + "\xed\xa0\x80" + "\x65\x64\x69\x74\x65\x64"
	bad := bad1 + bad2 + bad3
	echoed := "The message is echo'ed back to us."
	failNow := "The connection is failed immediately, since the payload is not valid UTF-8."
	failFast := "The first frame is accepted, we expect to timeout on the first wait. The 2nd frame should be rejected immediately (fail fast on UTF-8). If we timeout, we expect the connection is failed at least then, since the complete message payload is not valid UTF-8."
	failFastChop := "The first chop is accepted, we expect to timeout on the first wait. The 2nd chop should be rejected immediately (fail fast on UTF-8). If we timeout, we expect the connection is failed at least then, since the complete message payload is not valid UTF-8."
	fastExpect := []Expected{{Outcome: OK, Events: []Event{timeout("A")}}, {Outcome: NonStrict, Events: []Event{timeout("A"), timeout("B")}}}
	cont := func(p string) FrameStep { return Send(OpContinuation, p) }
	parts := func(p1, p2, p3 string) string {
		return fmt.Sprintf(" PART1 = 0x%x, PART2 = 0x%x, PART3 = 0x%x.", p1, p2, p3)
	}
	cs := []*Case{
		{ID: "6.1.1", Description: "Send text message of length 0.", Expectation: "A message is echo'ed back to us (with empty payload).",
			Steps: steps(Text("")), End: closeAt(sec), Expect: expectOK(msg("")), Close: closeNormal},
		{ID: "6.1.2", Description: "Send fragmented text message, 3 fragments each of length 0.", Expectation: "A message is echo'ed back to us (with empty payload).",
			Steps: steps(Text("").NoFin(), cont("").NoFin(), cont("")), End: closeAt(sec), Expect: expectOK(msg("")), Close: closeNormal},
		{ID: "6.1.3", Description: "Send fragmented text message, 3 fragments, first and last of length 0, middle non-empty.",
			Expectation: "A message is echo'ed back to us (with payload = payload of middle fragment).",
			Steps:       steps(Text("").NoFin(), cont("middle frame payload").NoFin(), cont("")), End: closeAt(sec), Expect: expectOK(msg("middle frame payload")), Close: closeNormal},
		{ID: "6.2.1", Description: fmt.Sprintf("Send a valid UTF-8 text message in one fragment. MESSAGE: %s (0x%x)", helloUTF8, helloUTF8), Expectation: echoed,
			Steps: steps(Text(helloUTF8)), End: closeAt(sec), Expect: expectOK(msg(helloUTF8)), Close: closeNormal},
		{ID: "6.2.2", Description: fmt.Sprintf("Send a valid UTF-8 text message in two fragments, fragmented on UTF-8 code point boundary. FRAGMENT 1: 0x%x, FRAGMENT 2: 0x%x", hello1, hello2),
			Expectation: echoed, Steps: steps(Text(hello1).NoFin(), cont(hello2)), End: closeAt(sec), Expect: expectOK(msg(helloUTF8)), Close: closeNormal},
		{ID: "6.2.3", Description: fmt.Sprintf("Send a valid UTF-8 text message in fragments of 1 octet, resulting in frames ending on positions which are not code point ends. MESSAGE: 0x%x", helloUTF8),
			Expectation: echoed, Steps: steps(SendMessage(OpText, b(helloUTF8), 1)), End: closeAt(sec), Expect: expectOK(msg(helloUTF8)), Close: closeNormal},
		{ID: "6.2.4", Description: fmt.Sprintf("Send a valid UTF-8 text message in fragments of 1 octet, resulting in frames ending on positions which are not code point ends. MESSAGE: 0x%x", kappa),
			Expectation: echoed, Steps: steps(SendMessage(OpText, b(kappa), 1)), End: closeAt(sec), Expect: expectOK(msg(kappa)), Close: closeNormal},
		{ID: "6.3.1", Description: fmt.Sprintf("Send invalid UTF-8 text message unfragmented. MESSAGE: 0x%x", invalid63), Expectation: failNow,
			Steps: steps(Text(invalid63)), End: kill(sec), Expect: expectOK(), Close: failUTF8},
		{ID: "6.3.2", Description: fmt.Sprintf("Send invalid UTF-8 text message in fragments of 1 octet, resulting in frames ending on positions which are not code point ends. MESSAGE: 0x%x", invalid63),
			Expectation: failNow, Steps: steps(SendMessage(OpText, b(invalid63), 1)), End: kill(sec), Expect: expectOK(), Close: failUTF8},
		{ID: "6.4.1", Description: "Send invalid UTF-8 text message in 3 fragments (frames). First frame payload is valid, then wait, then 2nd frame which contains the payload making the sequence invalid, then wait, then 3rd frame with rest. PART2 is 0x110000 encoded as in the UTF-8 integer encoding scheme, which is out of range." + parts(bad1, bad2, bad3),
			Expectation: failFast,
			Steps:       steps(Text(bad1).NoFin(), Wait(sec, "A"), cont(bad2).NoFin(), Wait(sec, "B"), cont(bad3)),
			End:         kill(sec), Expect: fastExpect, Close: failUTF8},
		{ID: "6.4.2", Description: "Same as Case 6.4.1, but in 2nd frame, we send only up to and including the octet making the complete payload invalid." + parts(bad[:12], bad[12:13], bad[13:]),
			Expectation: failFast,
			Steps:       steps(Text(bad[:12]).NoFin(), Wait(sec, "A"), cont(bad[12:13]).NoFin(), Wait(sec, "B"), cont(bad[13:])),
			End:         kill(sec), Expect: fastExpect, Close: failUTF8},
		{ID: "6.4.3", Description: "Same as Case 6.4.1, but we send message not in 3 frames, but in 3 chops of the same message frame." + parts(bad1, bad2, bad3),
			Expectation: failFastChop,
			Steps:       steps(SplitFrameStep{Frame: Text(bad), Cuts: []int{len(bad1), len(bad1) + len(bad2)}, Pause: sec, Tags: []string{"A", "B"}}),
			End:         kill(sec), Expect: fastExpect, Close: failUTF8},
		{ID: "6.4.4", Description: "Same as Case 6.4.2, but we send message not in 3 frames, but in 3 chops of the same message frame." + parts(bad[:12], bad[12:13], bad[13:]),
			Expectation: failFastChop,
			Steps:       steps(SplitFrameStep{Frame: Text(bad), Cuts: []int{12, 13}, Pause: sec, Tags: []string{"A", "B"}}),
			End:         kill(sec), Expect: fastExpect, Close: failUTF8},
	}
	for gi, g := range utf8Groups() {
		for si, seq := range g.seqs {
			id := fmt.Sprintf("6.%d.%d", gi+5, si+1)
			if utf8.ValidString(seq) {
				cs = append(cs, &Case{ID: id,
					Description: fmt.Sprintf("%s: send a text message with payload which is valid UTF-8 in one fragment. Payload: 0x%x", g.title, seq),
					Expectation: echoed, Steps: steps(Text(seq)), End: kill(sec / 2), Expect: expectOK(msg(seq)), Close: closeNormal})
			} else {
				cs = append(cs, &Case{ID: id,
					Description: fmt.Sprintf("%s: send a text message with payload which is not valid UTF-8 in one fragment. Payload: 0x%x", g.title, seq),
					Expectation: failNow, Steps: steps(Text(seq)), End: kill(sec / 2), Expect: expectOK(), Close: failUTF8})
			}
		}
	}
	return cs
}
