package suite

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Step is one action of a case script. The steps are the vocabulary of the
// small DSL in which the catalogue is written.
type Step interface {
	// run executes the step; it returns false when the script must stop
	// (the connection is gone or no longer open).
	run(s *session) bool
	// budget is the longest time the step can take when the peer is idle.
	budget() time.Duration
}

// MaskMode overrides the masking a frame gets from the suite's role.
type MaskMode int

// The masking modes.
const (
	// MaskByRole masks frames in the client role only, as RFC 6455 requires.
	MaskByRole MaskMode = iota
	// MaskInverted does the opposite of what the role requires: client
	// frames go unmasked and server frames masked.
	MaskInverted
)

// FrameStep sends one frame, possibly chopped into several TCP writes.
type FrameStep struct {
	// Op is the opcode, which may be reserved.
	Op Opcode
	// Fin is the FIN bit.
	Fin bool
	// RSV is the value of the three reserved bits.
	RSV byte
	// Payload is the payload, or the pattern repeated up to Len.
	Payload []byte
	// Len, when non-zero, is the payload length; Payload is repeated.
	Len int
	// Chop, when non-zero, writes the frame in chunks of Chop bytes.
	Chop int
	// Sync writes the frame on its own and pauses briefly after it
	// (Autobahn's "frame-wise chops").
	Sync bool
	// Mask overrides the role's masking.
	Mask MaskMode
}

// Send returns a final frame with the given opcode and payload.
func Send(op Opcode, payload string) FrameStep {
	return FrameStep{Op: op, Fin: true, Payload: []byte(payload)}
}

// Text returns a final text frame.
func Text(payload string) FrameStep { return Send(OpText, payload) }

// NoFin returns a copy of the frame with FIN cleared.
func (f FrameStep) NoFin() FrameStep { f.Fin = false; return f }

// WithRSV returns a copy of the frame with the reserved bits set to rsv.
func (f FrameStep) WithRSV(rsv byte) FrameStep { f.RSV = rsv; return f }

// Chopped returns a copy of the frame that is written in chunks of n bytes.
func (f FrameStep) Chopped(n int) FrameStep { f.Chop = n; return f }

// Synced returns a copy of the frame that is written on its own.
func (f FrameStep) Synced() FrameStep { f.Sync = true; return f }

// Repeat returns a copy of the frame whose payload pattern is repeated up to
// n bytes.
func (f FrameStep) Repeat(n int) FrameStep { f.Len = n; return f }

// InvertMask returns a copy of the frame masked contrary to the role.
func (f FrameStep) InvertMask() FrameStep { f.Mask = MaskInverted; return f }

func (f FrameStep) payload() []byte {
	if f.Len == 0 {
		return f.Payload
	}
	return repeatTo(f.Payload, f.Len)
}

func repeatTo(pattern []byte, n int) []byte {
	out := make([]byte, n)
	if len(pattern) == 0 {
		return out
	}
	for i := 0; i < n; i += copy(out[i:], pattern) {
	}
	return out
}

func (f FrameStep) encode(s *session) []byte {
	wf := WireFrame{Fin: f.Fin, RSV: f.RSV, Opcode: f.Op, Payload: f.payload(), Masked: s.masks(f.Mask)}
	return AppendFrame(nil, &wf)
}

func (f FrameStep) run(s *session) bool {
	return s.writeChunks(f.encode(s), f.Chop, f.Sync) == nil
}

func (f FrameStep) budget() time.Duration { return 0 }

// MessageStep sends a whole message, fragmented into frames of FragSize
// payload bytes when FragSize is non-zero.
type MessageStep struct {
	// Op is OpText or OpBinary.
	Op Opcode
	// Payload is the message payload, or the pattern repeated up to Len.
	Payload []byte
	// Len, when non-zero, is the message length; Payload is repeated.
	Len int
	// FragSize is the fragment payload size, or zero for one frame.
	FragSize int
}

// SendMessage returns a step sending payload as one message of kind op,
// fragmented into frames of fragSize bytes (zero: unfragmented).
func SendMessage(op Opcode, payload []byte, fragSize int) MessageStep {
	return MessageStep{Op: op, Payload: payload, FragSize: fragSize}
}

func (m MessageStep) run(s *session) bool {
	payload := m.Payload
	if m.Len > 0 {
		payload = repeatTo(m.Payload, m.Len)
	}
	size := m.FragSize
	if size <= 0 || size >= len(payload) {
		return Send(m.Op, "").withPayload(payload).run(s)
	}
	op := m.Op
	var buf []byte
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		wf := WireFrame{Fin: end == len(payload), Opcode: op, Payload: payload[off:end], Masked: s.masks(MaskByRole)}
		buf = AppendFrame(buf, &wf)
		op = OpContinuation
	}
	return s.writeChunks(buf, 0, false) == nil
}

func (m MessageStep) budget() time.Duration { return 0 }

func (f FrameStep) withPayload(p []byte) FrameStep { f.Payload = p; return f }

// CloseStep starts the closing handshake with a close frame, unless a close
// frame was already sent. It marks the suite as the closing endpoint.
type CloseStep struct {
	// Payload is the raw close payload (code and reason), possibly invalid.
	Payload []byte
}

// Close returns a close step with the given code and reason.
func Close(code int, reason string) CloseStep {
	p := binary.BigEndian.AppendUint16(nil, uint16(code))
	return CloseStep{Payload: append(p, reason...)}
}

// CloseRaw returns a close step with an arbitrary payload.
func CloseRaw(payload []byte) CloseStep { return CloseStep{Payload: payload} }

func (c CloseStep) run(s *session) bool {
	s.sendClose(c.Payload)
	return true
}

func (c CloseStep) budget() time.Duration { return 0 }

// WaitStep pauses the script like Autobahn's continueLater. After the pause
// the script goes on only if the connection is still open; a non-empty Tag
// is then recorded as a timeout event.
type WaitStep struct {
	// D is the pause.
	D time.Duration
	// Tag, when set, is recorded as ("timeout", Tag) and the script stops
	// unless the connection is fully open; without a tag the script stops
	// only when the TCP connection is gone.
	Tag string
}

// Wait returns a pause of d, recording tag if the connection is still open.
func Wait(d time.Duration, tag string) WaitStep { return WaitStep{D: d, Tag: tag} }

func (w WaitStep) run(s *session) bool {
	if !s.sleep(w.D) {
		return false
	}
	if w.Tag == "" {
		return !s.tcpGone()
	}
	if !s.isOpen() {
		return false
	}
	s.record(Event{Kind: EventTimeout, Tag: w.Tag})
	return true
}

func (w WaitStep) budget() time.Duration { return w.D }

// SplitFrameStep sends one frame in parts: the header with the payload up to
// the first cut, then, after each pause (a WaitStep with the next tag), the
// payload up to the next cut, and finally the rest.
type SplitFrameStep struct {
	// Frame is the frame to send.
	Frame FrameStep
	// Cuts are increasing payload offsets where the frame is split.
	Cuts []int
	// Pause is the delay between parts.
	Pause time.Duration
	// Tags name the pauses, one per cut.
	Tags []string
}

func (sp SplitFrameStep) run(s *session) bool {
	data := sp.Frame.encode(s)
	hdr := len(data) - len(sp.Frame.payload())
	prev := 0
	for i, cut := range sp.Cuts {
		if s.writeChunks(data[prev:hdr+cut], 0, false) != nil {
			return false
		}
		prev = hdr + cut
		if !(WaitStep{D: sp.Pause, Tag: sp.Tags[i]}).run(s) {
			return false
		}
	}
	return s.writeChunks(data[prev:], 0, false) == nil
}

func (sp SplitFrameStep) budget() time.Duration { return time.Duration(len(sp.Cuts)) * sp.Pause }

// RoundTripStep sends Count messages of Len bytes one after another, each
// only after the echo of the previous one arrived, then closes normally. It
// models Autobahn's 9.7 and 9.8 latency cases.
type RoundTripStep struct {
	// Count is the number of messages.
	Count int
	// Len is the payload size.
	Len int
	// Binary selects binary messages.
	Binary bool
	// Limit bounds the whole exchange.
	Limit time.Duration
}

func (rt RoundTripStep) run(s *session) bool {
	op, pat := OpText, []byte("*")
	if rt.Binary {
		op, pat = OpBinary, []byte{0xfe}
	}
	frame := Send(op, "")
	if rt.Len > 0 {
		frame = frame.withPayload(pat).Repeat(rt.Len)
	}
	deadline := time.Now().Add(rt.Limit)
	for i := 0; i < rt.Count; i++ {
		if !frame.run(s) {
			return false
		}
		if !s.waitMessages(i+1, deadline) {
			return false
		}
	}
	s.sendClose(closePayload(1000))
	return true
}

func (rt RoundTripStep) budget() time.Duration { return rt.Limit }

func closePayload(code int) []byte {
	return binary.BigEndian.AppendUint16(nil, uint16(code))
}

// describePayload renders a payload for reports: short payloads in hex, long
// ones by length.
func describePayload(p []byte) string {
	if len(p) > 32 {
		return fmt.Sprintf("%d bytes", len(p))
	}
	return fmt.Sprintf("0x%x", p)
}
