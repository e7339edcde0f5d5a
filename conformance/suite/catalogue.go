package suite

import (
	"bytes"
	"fmt"
	"path"
	"strings"
	"time"
)

// CatalogueOptions tunes the generated catalogue.
type CatalogueOptions struct {
	// Quick divides the sizes of the 9.* cases by 16 (largest message
	// 1 MiB), sends 5 instead of 1000 messages in the 12.* and 13.*
	// cases, and shortens the time limits, for CI.
	Quick bool
}

// Short aliases used by the catalogue tables.
const sec = time.Second

// Event constructors for the expectation tables.
func msg(p string) Event       { return Event{Kind: EventMessage, Payload: []byte(p)} }
func binMsg(p []byte) Event    { return Event{Kind: EventMessage, Payload: p, Binary: true} }
func pong(p string) Event      { return Event{Kind: EventPong, Payload: []byte(p)} }
func timeout(tag string) Event { return Event{Kind: EventTimeout, Tag: tag} }

// expectOK returns a single OK expectation.
func expectOK(evs ...Event) []Expected {
	if evs == nil {
		evs = []Event{}
	}
	return []Expected{{Outcome: OK, Events: evs}}
}

// expectEchoThenFail accepts the echo of the first message (OK) or nothing
// (NON-STRICT), as Autobahn does for cases that send a good message before a
// bad frame.
func expectEchoThenFail(first Event) []Expected {
	return []Expected{{Outcome: OK, Events: []Event{first}}, {Outcome: NonStrict, Events: []Event{}}}
}

var (
	closeNormal = CloseExpect{ByMe: true, Codes: []int{1000}, RequireClean: true}
	failProto   = CloseExpect{ByMe: false, Codes: []int{1002}}
	failUTF8    = CloseExpect{ByMe: false, Codes: []int{1007}, WrongEndpointFatal: true}
)

func kill(d time.Duration) End    { return End{Kind: EndKill, After: d} }
func closeAt(d time.Duration) End { return End{Kind: EndClose, After: d} }
func steps(s ...Step) []Step      { return s }
func b(s string) []byte           { return []byte(s) }
func stars(n int) string          { return strings.Repeat("*", n) }

// Catalogue returns every case, in Autobahn's order, followed by the suite's
// own W.* cases.
func Catalogue(opts CatalogueOptions) []*Case {
	var cs []*Case
	cs = append(cs, family1()...)
	cs = append(cs, family2()...)
	cs = append(cs, family3()...)
	cs = append(cs, family4()...)
	cs = append(cs, family5()...)
	cs = append(cs, family6()...)
	cs = append(cs, family7()...)
	cs = append(cs, family9(opts.Quick)...)
	cs = append(cs, family10()...)
	cs = append(cs, familyCompression(opts.Quick)...)
	cs = append(cs, familyW()...)
	return cs
}

// Filter keeps the cases whose id matches one of include (all when include is
// empty) and none of exclude. Patterns use path.Match syntax, so "6.4.*"
// matches 6.4.1 and "1.*" matches every case of family 1.
func Filter(cases []*Case, include, exclude []string) ([]*Case, error) {
	match := func(pats []string, id string) (bool, error) {
		for _, p := range pats {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			ok, err := path.Match(p, id)
			if err != nil {
				return false, fmt.Errorf("bad case pattern %q: %w", p, err)
			}
			if ok {
				return true, nil
			}
		}
		return false, nil
	}
	var out []*Case
	for _, c := range cases {
		if len(include) > 0 && !(len(include) == 1 && strings.TrimSpace(include[0]) == "") {
			ok, err := match(include, c.ID)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
		}
		ex, err := match(exclude, c.ID)
		if err != nil {
			return nil, err
		}
		if !ex {
			out = append(out, c)
		}
	}
	return out, nil
}

func family1() []*Case {
	var cs []*Case
	sizes := []int{0, 125, 126, 127, 128, 65535, 65536, 65536}
	for _, binary := range []bool{false, true} {
		for i, n := range sizes {
			kind, op, sub, pat := "text", OpText, 1, "*"
			if binary {
				kind, op, sub, pat = "binary", OpBinary, 2, "\xfe"
			}
			payload := strings.Repeat(pat, n)
			f := Send(op, payload)
			desc := fmt.Sprintf("Send %s message with payload of length %d.", kind, n)
			wait := sec
			if n > 128 {
				wait = 10 * sec
			}
			if i == 7 {
				f = f.Chopped(997)
				desc += " Sent out data in chops of 997 octets."
			}
			ev := msg(payload)
			if binary {
				ev = binMsg(b(payload))
			}
			cs = append(cs, &Case{
				ID: fmt.Sprintf("1.%d.%d", sub, i+1), Description: desc,
				Expectation: fmt.Sprintf("Receive echo'ed %s message (with payload as sent). Clean close with normal code.", kind),
				Steps:       steps(f), End: kill(wait), Expect: expectOK(ev), Close: closeNormal,
			})
		}
	}
	return cs
}

func family2() []*Case {
	pongEcho := "Pong with payload echo'ed is sent in reply to Ping. Clean close with normal code."
	bin8 := "\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
	fe125 := strings.Repeat("\xfe", 125)
	tenPings := func(chop int) ([]Step, []Event) {
		var st []Step
		var ev []Event
		for i := 0; i < 10; i++ {
			p := fmt.Sprintf("payload-%d", i)
			st = append(st, Send(OpPing, p).Chopped(chop))
			ev = append(ev, pong(p))
		}
		return st, ev
	}
	p10, e10 := tenPings(0)
	p11, e11 := tenPings(1)
	tenExp := "Pongs for our Pings with all the payloads. Note: This is not required by the Spec .. but we check for this behaviour anyway. Clean close with normal code."
	return []*Case{
		{ID: "2.1", Description: "Send ping without payload.", Expectation: "Pong (with empty payload) is sent in reply to Ping. Clean close with normal code.",
			Steps: steps(Send(OpPing, "")), End: closeAt(sec), Expect: expectOK(pong("")), Close: closeNormal},
		{ID: "2.2", Description: "Send ping with small text payload.", Expectation: pongEcho,
			Steps: steps(Send(OpPing, "Hello, world!")), End: closeAt(sec), Expect: expectOK(pong("Hello, world!")), Close: closeNormal},
		{ID: "2.3", Description: "Send ping with small binary (non UTF-8) payload.", Expectation: pongEcho,
			Steps: steps(Send(OpPing, bin8)), End: closeAt(sec), Expect: expectOK(pong(bin8)), Close: closeNormal},
		{ID: "2.4", Description: "Send ping with binary payload of 125 octets.", Expectation: pongEcho,
			Steps: steps(Send(OpPing, fe125)), End: closeAt(sec), Expect: expectOK(pong(fe125)), Close: closeNormal},
		{ID: "2.5", Description: "Send ping with binary payload of 126 octets.",
			Expectation: "Connection is failed immediately (1002/Protocol Error), since control frames are only allowed to have payload up to and including 125 octets.",
			Steps:       steps(Send(OpPing, strings.Repeat("\xfe", 126))), End: kill(sec), Expect: expectOK(), Close: failProto},
		{ID: "2.6", Description: "Send ping with binary payload of 125 octets, send in octet-wise chops.",
			Expectation: "Pong with payload echo'ed is sent in reply to Ping. Implementations must be TCP clean. Clean close with normal code.",
			Steps:       steps(Send(OpPing, fe125).Chopped(1)), End: closeAt(2 * sec), Expect: expectOK(pong(fe125)), Close: closeNormal},
		{ID: "2.7", Description: "Send unsolicited pong without payload. Verify nothing is received. Clean close with normal code.", Expectation: "Nothing.",
			Steps: steps(Send(OpPong, ""), Close(1000, "")), End: closeAt(sec), Expect: expectOK(), Close: closeNormal},
		{ID: "2.8", Description: "Send unsolicited pong with payload. Verify nothing is received. Clean close with normal code.", Expectation: "Nothing.",
			Steps: steps(Send(OpPong, "unsolicited pong payload"), Close(1000, "")), End: closeAt(sec), Expect: expectOK(), Close: closeNormal},
		{ID: "2.9", Description: "Send unsolicited pong with payload. Send ping with payload. Verify pong for ping is received.",
			Expectation: "Nothing in reply to own Pong, but Pong with payload echo'ed in reply to Ping. Clean close with normal code.",
			Steps:       steps(Send(OpPong, "unsolicited pong payload"), Send(OpPing, "ping payload")), End: closeAt(sec), Expect: expectOK(pong("ping payload")), Close: closeNormal},
		{ID: "2.10", Description: "Send 10 Pings with payload.", Expectation: tenExp,
			Steps: p10, End: closeAt(3 * sec), Expect: expectOK(e10...), Close: closeNormal},
		{ID: "2.11", Description: "Send 10 Pings with payload. Send out octets in octet-wise chops.", Expectation: tenExp,
			Steps: p11, End: closeAt(3 * sec), Expect: expectOK(e11...), Close: closeNormal},
	}
}

func family3() []*Case {
	hw := "Hello, world!"
	echoFail := "Echo for first message is received, but then connection is failed immediately, since RSV must be 0, when no extension defining RSV meaning has been negotiated. The Pong is not received."
	return []*Case{
		{ID: "3.1", Description: "Send small text message with RSV = 1.",
			Expectation: "The connection is failed immediately (1002/protocol error), since RSV must be 0, when no extension defining RSV meaning has been negotiated.",
			Steps:       steps(Text(hw).WithRSV(1)), End: kill(sec), Expect: expectOK(), Close: failProto},
		{ID: "3.2", Description: "Send small text message, then send again with RSV = 2, then send Ping.", Expectation: echoFail,
			Steps: steps(Text(hw), Text(hw).WithRSV(2), Send(OpPing, "")), End: kill(sec), Expect: expectEchoThenFail(msg(hw)), Close: failProto},
		{ID: "3.3", Description: "Send small text message, then send again with RSV = 3, then send Ping. Octets are sent in frame-wise chops.", Expectation: echoFail,
			Steps: steps(Text(hw).Synced(), Text(hw).WithRSV(3).Synced(), Send(OpPing, "").Synced()), End: kill(sec), Expect: expectEchoThenFail(msg(hw)), Close: failProto},
		{ID: "3.4", Description: "Send small text message, then send again with RSV = 4, then send Ping. Octets are sent in octet-wise chops.", Expectation: echoFail,
			Steps: steps(Text(hw).Chopped(1), Text(hw).WithRSV(4).Chopped(1), Send(OpPing, "").Chopped(1)), End: kill(sec), Expect: expectEchoThenFail(msg(hw)), Close: failProto},
		{ID: "3.5", Description: "Send small binary message with RSV = 5.", Expectation: "The connection is failed immediately, since RSV must be 0.",
			Steps: steps(Send(OpBinary, "\x00\xff\xfe\xfd\xfc\xfb\x00\xff").WithRSV(5)), End: kill(sec), Expect: expectOK(), Close: failProto},
		{ID: "3.6", Description: "Send Ping with RSV = 6.", Expectation: "The connection is failed immediately, since RSV must be 0.",
			Steps: steps(Send(OpPing, hw).WithRSV(6)), End: kill(sec), Expect: expectOK(), Close: failProto},
		{ID: "3.7", Description: "Send Close with RSV = 7.", Expectation: "The connection is failed immediately, since RSV must be 0.",
			Steps: steps(Send(OpClose, "").WithRSV(7)), End: kill(sec), Expect: expectOK(), Close: failProto},
	}
}

func family4() []*Case {
	hw := "Hello, world!"
	var cs []*Case
	for sub, ops := range [][]Opcode{{3, 4, 5, 6, 7}, {11, 12, 13, 14, 15}} {
		kind := "non-control"
		if sub == 1 {
			kind = "control"
		}
		for i, op := range ops {
			id := fmt.Sprintf("4.%d.%d", sub+1, i+1)
			switch i {
			case 0:
				cs = append(cs, &Case{ID: id, Description: fmt.Sprintf("Send frame with reserved %s Opcode = %d.", kind, op),
					Expectation: "The connection is failed immediately.",
					Steps:       steps(Send(op, "")), End: kill(sec), Expect: expectOK(), Close: failProto})
			case 1:
				cs = append(cs, &Case{ID: id, Description: fmt.Sprintf("Send frame with reserved %s Opcode = %d and non-empty payload.", kind, op),
					Expectation: "The connection is failed immediately.",
					Steps:       steps(Send(op, "reserved opcode payload")), End: kill(sec), Expect: expectOK(), Close: failProto})
			default:
				desc := fmt.Sprintf("Send small text message, then send frame with reserved %s Opcode = %d", kind, op)
				bad := Send(op, "")
				if i > 2 {
					desc += " and non-empty payload"
					bad = Send(op, hw)
				}
				first, ping := Text(hw), Send(OpPing, "")
				if i == 4 {
					first, bad, ping = first.Chopped(1), bad.Chopped(1), ping.Chopped(1)
					desc += ", then send Ping. Octets are sent in octet-wise chops."
				} else {
					desc += ", then send Ping."
				}
				cs = append(cs, &Case{ID: id, Description: desc,
					Expectation: "Echo for first message is received, but then connection is failed immediately, since reserved opcode frame is used. A Pong is not received.",
					Steps:       steps(first, bad, ping), End: kill(sec), Expect: expectEchoThenFail(msg(hw)), Close: failProto})
			}
		}
	}
	return cs
}

func family5() []*Case {
	frag := func(chop int, sync bool, fs ...FrameStep) []Step {
		var st []Step
		for _, f := range fs {
			if chop > 0 {
				f = f.Chopped(chop)
			}
			if sync {
				f = f.Synced()
			}
			st = append(st, f)
		}
		return st
	}
	cont := func(p string) FrameStep { return Send(OpContinuation, p) }
	twoFrag := []FrameStep{Text("fragment1").NoFin(), cont("fragment2")}
	withPing := []FrameStep{Text("fragment1").NoFin(), Send(OpPing, "ping payload"), cont("fragment2")}
	contFin := []FrameStep{cont("non-continuation payload"), Text("Hello, world!")}
	contNoFin := []FrameStep{cont("non-continuation payload").NoFin(), Text("Hello, world!")}
	echo2 := "A message is echo'ed back to us (with payload = fragment1 + fragment2)."
	failNow := "The connection is failed immediately, since there is no message to continue."
	chopNames := []string{"sent in one chop", "sent in per-frame chops", "sent in octet-wise chops"}
	type variant struct {
		chop int
		sync bool
	}
	variants := []variant{{0, false}, {0, true}, {1, false}}
	cs := []*Case{
		{ID: "5.1", Description: "Send Ping fragmented into 2 fragments.", Expectation: "Connection is failed immediately, since control message MUST NOT be fragmented.",
			Steps: steps(Send(OpPing, "fragment1").NoFin(), cont("fragment2")), End: kill(sec), Expect: expectOK(), Close: failProto},
		{ID: "5.2", Description: "Send Pong fragmented into 2 fragments.", Expectation: "Connection is failed immediately, since control message MUST NOT be fragmented.",
			Steps: steps(Send(OpPong, "fragment1").NoFin(), cont("fragment2")), End: kill(sec), Expect: expectOK(), Close: failProto},
	}
	descs := []string{"Send text Message fragmented into 2 fragments.",
		"Send text Message fragmented into 2 fragments, octets are sent in frame-wise chops.",
		"Send text Message fragmented into 2 fragments, octets are sent in octet-wise chops."}
	for i, v := range variants {
		cs = append(cs, &Case{ID: fmt.Sprintf("5.%d", 3+i), Description: descs[i], Expectation: echo2,
			Steps: frag(v.chop, v.sync, twoFrag...), End: closeAt(sec), Expect: expectOK(msg("fragment1fragment2")), Close: closeNormal})
	}
	pingSuffix := []string{"", " Octets are sent in frame-wise chops.", " Octets are sent in octet-wise chops."}
	for i, v := range variants {
		cs = append(cs, &Case{ID: fmt.Sprintf("5.%d", 6+i),
			Description: "Send text Message fragmented into 2 fragments, one ping with payload in-between." + pingSuffix[i],
			Expectation: "A pong is received, then the message is echo'ed back to us.",
			Steps:       frag(v.chop, v.sync, withPing...), End: closeAt(sec),
			Expect: expectOK(pong("ping payload"), msg("fragment1fragment2")), Close: closeNormal})
	}
	for i, v := range variants {
		cs = append(cs, &Case{ID: fmt.Sprintf("5.%d", 9+i),
			Description: "Send unfragmented Text Message after Continuation Frame with FIN = true, where there is nothing to continue, " + chopNames[i] + ".",
			Expectation: failNow, Steps: frag(v.chop, v.sync, contFin...), End: kill(sec), Expect: expectOK(), Close: failProto})
	}
	for i, v := range variants {
		cs = append(cs, &Case{ID: fmt.Sprintf("5.%d", 12+i),
			Description: "Send unfragmented Text Message after Continuation Frame with FIN = false, where there is nothing to continue, " + chopNames[i] + ".",
			Expectation: failNow, Steps: frag(v.chop, v.sync, contNoFin...), End: kill(sec), Expect: expectOK(), Close: failProto})
	}
	cs = append(cs, &Case{ID: "5.15",
		Description: "Send text Message fragmented into 2 fragments, then Continuation Frame with FIN = false where there is nothing to continue, then unfragmented Text Message, all sent in one chop.",
		Expectation: "The connection is failed immediately, since there is no message to continue.",
		Steps:       steps(Text("fragment1").NoFin(), cont("fragment2"), cont("fragment3").NoFin(), Text("fragment4")),
		End:         kill(sec), Expect: expectEchoThenFail(msg("fragment1fragment2")), Close: failProto})
	for i, fin := range []bool{false, true} {
		name := "false"
		if fin {
			name = "true"
		}
		var st []Step
		for r := 0; r < 2; r++ {
			first := cont("fragment1")
			if !fin {
				first = first.NoFin()
			}
			st = append(st, first, Text("fragment2").NoFin(), cont("fragment3"))
		}
		cs = append(cs, &Case{ID: fmt.Sprintf("5.%d", 16+i),
			Description: "Repeated 2x: Continuation Frame with FIN = " + name + " (where there is nothing to continue), then text Message fragmented into 2 fragments.",
			Expectation: "The connection is failed immediately, since there is no message to continue.",
			Steps:       st, End: kill(sec), Expect: expectOK(), Close: failProto})
	}
	cs = append(cs, &Case{ID: "5.18",
		Description: "Send text Message fragmented into 2 fragments, with both frame opcodes set to text, sent in one chop.",
		Expectation: "The connection is failed immediately, since all data frames after the initial data frame must have opcode 0.",
		Steps:       steps(Text("fragment1").NoFin(), Text("fragment2")), End: kill(sec), Expect: expectOK(), Close: failProto})
	for i, sync := range []bool{false, true} {
		fs := func(f FrameStep) Step {
			if sync {
				return f.Synced()
			}
			return f
		}
		desc := "A fragmented text message is sent in multiple frames. After sending the first 2 frames of the text message, a Ping is sent. Then we wait 1s, then we send 2 more text fragments, another Ping and then the final text fragment. Everything is legal."
		if sync {
			desc = "Same as Case 5.19, but send all frames with SYNC = True. Note, this does not change the octets sent in any way, only how the stream is chopped up on the wire."
		}
		cs = append(cs, &Case{ID: fmt.Sprintf("5.%d", 19+i), Description: desc,
			Expectation: "The peer immediately answers the first Ping before it has received the last text message fragment. The peer pong's back the Ping's payload exactly, and echo's the payload of the fragmented message back to us.",
			Steps: steps(fs(Text("fragment1").NoFin()), fs(cont("fragment2").NoFin()), fs(Send(OpPing, "pongme 1!")),
				Wait(sec, ""),
				fs(cont("fragment3").NoFin()), fs(cont("fragment4").NoFin()), fs(Send(OpPing, "pongme 2!")), fs(cont("fragment5"))),
			End:    closeAt(sec),
			Expect: expectOK(pong("pongme 1!"), pong("pongme 2!"), msg("fragment1fragment2fragment3fragment4fragment5")), Close: closeNormal})
	}
	return cs
}

func family7() []*Case {
	hw := "Hello World!"
	invalidReason := "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64"
	c7 := func(id, desc, exp string, st []Step, ev []Event, ce CloseExpect) *Case {
		return &Case{ID: id, Description: desc, Expectation: exp, Steps: st, End: kill(sec),
			Expect: expectOK(ev...), Close: ce, SuppressClose: true, WrongCodeFatal: true}
	}
	proto := CloseExpect{ByMe: true, Codes: []int{1002}}
	cs := []*Case{
		{ID: "7.1.1", Description: "Send a message followed by a close frame", Expectation: "Echoed message followed by clean close with normal code.",
			Steps: steps(Text(hw)), End: kill(sec), Expect: expectOK(msg(hw)), Close: closeNormal, WrongCodeFatal: true},
		c7("7.1.2", "Send two close frames", "Clean close with normal code. Second close frame ignored.",
			steps(Close(1000, ""), Send(OpClose, "")), nil, closeNormal),
		c7("7.1.3", "Send a ping after close message", "Clean close with normal code, no pong.",
			steps(Close(1000, ""), Send(OpPing, "")), nil, closeNormal),
		c7("7.1.4", "Send text message after sending a close frame.", "Clean close with normal code. Text message ignored.",
			steps(Close(1000, ""), Text(hw)), nil, closeNormal),
		c7("7.1.5", "Send message fragment1 followed by close then fragment", "Clean close with normal code.",
			steps(Text("fragment1").NoFin(), Close(1000, ""), Send(OpContinuation, "fragment2")), nil, closeNormal),
		{ID: "7.1.6", Description: "Send 256K message followed by close then a ping",
			Expectation: "Case outcome depends on implementation defined close behavior. Message and close frame are sent back to back. If the close frame is processed before the text message write is complete, the text message may be dropped.",
			Steps:       steps(Text("BAsd7&jh23").Repeat(256<<10), Text(hw), Close(1000, ""), Send(OpPing, "")),
			End:         kill(sec), Expect: []Expected{{Outcome: OK, Events: []Event{msg(hw)}}, {Outcome: NonStrict, Events: []Event{}}},
			Close: closeNormal, SuppressClose: true, Informational: true},
		c7("7.3.1", "Send a close frame with payload length 0 (no close code, no close reason)", "Clean close with normal code.",
			steps(CloseRaw(nil)), nil, closeNormal),
		c7("7.3.2", "Send a close frame with payload length 1", "Clean close with protocol error or drop TCP.",
			steps(CloseRaw(b("a"))), nil, proto),
		c7("7.3.3", "Send a close frame with payload length 2 (regular close with a code)", "Clean close with normal code.",
			steps(Close(1000, "")), nil, closeNormal),
		c7("7.3.4", "Send a close frame with close code and close reason", "Clean close with normal code.",
			steps(Close(1000, hw)), nil, closeNormal),
		c7("7.3.5", "Send a close frame with close code and close reason of maximum length (123)", "Clean close with normal code.",
			steps(Close(1000, stars(123))), nil, closeNormal),
		c7("7.3.6", "Send a close frame with close code and close reason which is too long (124) - total frame payload 126 octets",
			"Clean close with protocol error code or dropped TCP connection.", steps(Close(1000, stars(124))), nil, proto),
		c7("7.5.1", "Send a close frame with invalid UTF8 payload", "Clean close with protocol error or invalid utf8 code or dropped TCP.",
			steps(Close(1000, invalidReason)), nil, CloseExpect{ByMe: true, Codes: []int{1002, 1007}}),
	}
	for i, code := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999} {
		cs = append(cs, c7(fmt.Sprintf("7.7.%d", i+1), fmt.Sprintf("Send close with valid close code %d", code),
			"Clean close with normal or echoed code", steps(Close(code, "")), nil,
			CloseExpect{ByMe: true, Codes: []int{1000, code}, RequireClean: true}))
	}
	for i, code := range []int{0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999} {
		cs = append(cs, c7(fmt.Sprintf("7.9.%d", i+1), fmt.Sprintf("Send close with invalid close code %d", code),
			"Clean close with protocol error code or drop TCP", steps(Close(code, "")), nil, proto))
	}
	for i, code := range []int{5000, 65535} {
		cs = append(cs, &Case{ID: fmt.Sprintf("7.13.%d", i+1), Description: fmt.Sprintf("Send close with close code %d", code),
			Expectation: "Actual events are undefined by the spec.", Steps: steps(Close(code, "")), End: kill(sec),
			Expect: expectOK(), Close: CloseExpect{ByMe: true, Codes: []int{1000, code, 1002}}, SuppressClose: true, Informational: true})
	}
	return cs
}

// echoJudge accepts exactly one echoed message of the given kind whose
// payload is pattern repeated to n bytes.
func echoJudge(pattern []byte, n int, binary bool) func(o *Observation, r *Result) {
	return func(o *Observation, r *Result) {
		kind := "text"
		if binary {
			kind = "binary"
		}
		var msgs []Event
		for _, e := range o.Events {
			if e.Kind == EventMessage {
				msgs = append(msgs, e)
			}
		}
		switch {
		case len(msgs) == 0:
			r.Reason = "Did not receive the echo'ed message in time."
		case len(msgs) > 1:
			r.Reason = fmt.Sprintf("Expected one %s message, got %d messages.", kind, len(msgs))
		case msgs[0].Binary != binary:
			r.Reason = fmt.Sprintf("Expected a %s message, got the other kind.", kind)
		case len(msgs[0].Payload) != n:
			r.Reason = fmt.Sprintf("Expected %s message with payload of length %d, but got %d.", kind, n, len(msgs[0].Payload))
		case !bytes.Equal(msgs[0].Payload, repeatTo(pattern, n)):
			r.Reason = fmt.Sprintf("Echo'ed %s message of length %d differs from what was sent.", kind, n)
		default:
			r.Behavior = OK
			r.Reason = fmt.Sprintf("Received %s message of length %d.", kind, n)
		}
	}
}

// roundTripJudge accepts count echoed messages of the given kind and size.
func roundTripJudge(count, n int, binary bool, limit time.Duration) func(o *Observation, r *Result) {
	return func(o *Observation, r *Result) {
		got := 0
		for _, e := range o.Events {
			if e.Kind != EventMessage {
				continue
			}
			if e.Binary != binary || len(e.Payload) != n {
				r.Reason = fmt.Sprintf("Echo'ed message type or length differs from what was sent (got binary = %v, payload length = %d).", e.Binary, len(e.Payload))
				return
			}
			got++
		}
		if got < count {
			r.Reason = fmt.Sprintf("Case did not finish within %v: %d of %d echoes received.", limit, got, count)
			return
		}
		r.Behavior = OK
		r.Reason = "Ok, received all echo'ed messages in time."
	}
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dM", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dk", n>>10)
	}
	return fmt.Sprint(n)
}

func family9(quick bool) []*Case {
	scale := func(n int) int {
		if quick {
			return max(n/16, 1)
		}
		return n
	}
	wait := func(d time.Duration) time.Duration {
		if quick {
			return min(d, 30*sec)
		}
		return d
	}
	note := ""
	if quick {
		note = " (quick mode: sizes divided by 16)"
	}
	textPat, binPat := b("BAsd7&jh23"), []byte{0x00, 0xfe, 0x23, 0xfa, 0xf0}
	var cs []*Case
	add := func(c *Case, judge func(*Observation, *Result)) {
		c.judge, c.ReportTime, c.Heavy, c.Close = judge, true, true, closeNormal
		c.Description += note
		cs = append(cs, c)
	}
	whole := []int{64 << 10, 256 << 10, 1 << 20, 4 << 20, 8 << 20, 16 << 20}
	for sub, binary := range []bool{false, true} {
		kind, op, pat := "text", OpText, textPat
		waits := []time.Duration{10 * sec, 10 * sec, 100 * sec, 100 * sec, 100 * sec, 100 * sec}
		if binary {
			kind, op, pat = "binary", OpBinary, binPat
			waits = []time.Duration{10 * sec, 10 * sec, 10 * sec, 10 * sec, 100 * sec, 100 * sec}
		}
		for i, n := range whole {
			n := scale(n)
			add(&Case{ID: fmt.Sprintf("9.%d.%d", sub+1, i+1),
				Description: fmt.Sprintf("Send %s message message with payload of length %s.", kind, sizeName(n)),
				Expectation: fmt.Sprintf("Receive echo'ed %s message (with payload as sent).", kind),
				Steps:       steps(Send(op, "").withPayload(pat).Repeat(n)), End: closeAt(wait(waits[i])), closeOnMessages: 1,
			}, echoJudge(pat, n, binary))
		}
	}
	frags := []int{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20}
	for sub, binary := range []bool{false, true} {
		kind, op, pat := "text", OpText, b("*")
		if binary {
			kind, op, pat = "binary", OpBinary, []byte{0xfe}
		}
		total := scale(4 << 20)
		for i, fs := range frags {
			fs := min(fs, total)
			add(&Case{ID: fmt.Sprintf("9.%d.%d", sub+3, i+1),
				Description: fmt.Sprintf("Send fragmented %s message message with message payload of length %s. Sent out in fragments of %s.", kind, sizeName(total), sizeName(fs)),
				Expectation: fmt.Sprintf("Receive echo'ed %s message (with payload as sent).", kind),
				Steps:       steps(MessageStep{Op: op, Payload: pat, Len: total, FragSize: fs}), End: closeAt(wait(100 * sec)), closeOnMessages: 1,
			}, echoJudge(pat, total, binary))
		}
	}
	for sub, binary := range []bool{false, true} {
		kind, op, pat := "text", OpText, textPat
		if binary {
			kind, op, pat = "binary", OpBinary, binPat
		}
		n := scale(1 << 20)
		for i, chop := range []int{64, 128, 256, 512, 1024, 2048} {
			add(&Case{ID: fmt.Sprintf("9.%d.%d", sub+5, i+1),
				Description: fmt.Sprintf("Send %s message message with payload of length %s. Sent out data in chops of %d octets.", kind, sizeName(n), chop),
				Expectation: fmt.Sprintf("Receive echo'ed %s message (with payload as sent).", kind),
				Steps:       steps(Send(op, "").withPayload(pat).Repeat(n).Chopped(chop)), End: closeAt(wait(1000 * sec)), closeOnMessages: 1,
			}, echoJudge(pat, n, binary))
		}
	}
	type rt struct {
		size int
		wait time.Duration
	}
	rts := []rt{{0, 60 * sec}, {16, 60 * sec}, {64, 60 * sec}, {256, 120 * sec}, {1024, 240 * sec}, {4096, 480 * sec}}
	for sub, binary := range []bool{false, true} {
		kind := "text"
		if binary {
			kind = "binary"
		}
		for i, t := range rts {
			limit := wait(t.wait)
			add(&Case{ID: fmt.Sprintf("9.%d.%d", sub+7, i+1),
				Description: fmt.Sprintf("Send 1000 %s messages of payload size %d to measure implementation/network RTT (round trip time) / latency.", kind, t.size),
				Expectation: fmt.Sprintf("Receive echo'ed %s messages (with payload as sent). Timeout case after %d secs.", kind, int(limit/sec)),
				Steps:       steps(RoundTripStep{Count: 1000, Len: t.size, Binary: binary, Limit: limit}),
			}, roundTripJudge(1000, t.size, binary, limit))
		}
	}
	return cs
}

func family10() []*Case {
	return []*Case{{ID: "10.1.1",
		Description: "Send text message with payload of length 65536 auto-fragmented with autoFragmentSize = 1300.",
		Expectation: "Receive echo'ed text message (with payload as sent). Clean close with normal code.",
		Steps:       steps(MessageStep{Op: OpText, Payload: b("*"), Len: 65536, FragSize: 1300}),
		End:         kill(10 * sec), Close: closeNormal, closeOnMessages: 1,
		judge: echoJudge(b("*"), 65536, false)}}
}

// familyW holds the suite's own cases that Autobahn lacks.
func familyW() []*Case {
	exp := "Not an Autobahn case. The connection is failed immediately with 1002 (RFC 6455 section 5.1: a server must close on an unmasked client frame, a client on a masked server frame). Nothing is echo'ed."
	return []*Case{
		{ID: "W.1.1", NotAutobahn: true,
			Description: "Send a small text message masked contrary to the sender's role: unmasked when the suite is the client, masked when it is the server.",
			Expectation: exp, Steps: steps(Text("Hello, world!").InvertMask()), End: kill(sec), Expect: expectOK(), Close: failProto},
		{ID: "W.1.2", NotAutobahn: true,
			Description: "Send a ping masked contrary to the sender's role.",
			Expectation: exp + " No pong is sent.", Steps: steps(Send(OpPing, "ping payload").InvertMask()), End: kill(sec), Expect: expectOK(), Close: failProto},
		{ID: "W.1.3", NotAutobahn: true,
			Description: "Send a correctly masked text message, then a text message masked contrary to the sender's role.",
			Expectation: "Not an Autobahn case. The first message is echo'ed, then the connection is failed with 1002.",
			Steps:       steps(Text("Hello, world!"), Text("Hello, again!").InvertMask()), End: kill(sec),
			Expect: expectEchoThenFail(msg("Hello, world!")), Close: failProto},
	}
}
