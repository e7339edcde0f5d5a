package suite

import (
	"bytes"
	"fmt"
	"time"
)

// EchoStats summarises an echo case (12.*, 13.*) for the judge and the
// reports. The echoed payloads themselves are checked on arrival and not kept.
type EchoStats struct {
	// Count is the number of messages the case sends.
	Count int `json:"count"`
	// Sent is the number of messages sent.
	Sent int `json:"sent"`
	// Received is the number of echoes received.
	Received int `json:"received"`
	// Compressed is the number of echoes that came compressed.
	Compressed int `json:"compressed"`
	// PayloadBytesOut is the uncompressed size of what the suite sent.
	PayloadBytesOut int64 `json:"payloadBytesOut"`
	// WireBytesOut is the size of the sent message payloads on the wire.
	WireBytesOut int64 `json:"wireBytesOut"`
	// PayloadBytesIn is the uncompressed size of the echoes.
	PayloadBytesIn int64 `json:"payloadBytesIn"`
	// WireBytesIn is the size of the echoes' payloads on the wire.
	WireBytesIn int64 `json:"wireBytesIn"`
	// Failure describes the first wrong echo; empty when none was wrong.
	Failure string `json:"failure,omitempty"`
	// TimedOut tells whether the case ran out of time.
	TimedOut bool `json:"timedOut,omitempty"`
	// Limit is the time limit of the exchange.
	Limit time.Duration `json:"limit"`
}

// echoState is the live state of an EchoStep, guarded by session.mu.
type echoState struct {
	stats  EchoStats
	binary bool
	expect []byte
}

// EchoStep sends Count messages taken one after another from a test data
// set (wrapping around at its end), each only after the echo of the previous
// one arrived and matched, then closes normally. It models Autobahn's 12.*
// and 13.* cases: messages are compressed when permessage-deflate was
// negotiated and split into frames of FragSize bytes of compressed payload
// (Autobahn's autoFragmentSize).
type EchoStep struct {
	// Data is the test data set.
	Data *dataset
	// Len is the message size.
	Len int
	// Count is the number of messages.
	Count int
	// FragSize is the frame size, zero for one frame per message.
	FragSize int
	// Limit bounds the whole exchange (Autobahn's case timeout).
	Limit time.Duration
}

func (e EchoStep) budget() time.Duration { return e.Limit }

type echoWait int

const (
	echoArrived echoWait = iota
	echoFailed
	echoTimeout
	echoGone
)

func (e EchoStep) run(s *session) bool {
	data := e.Data.bytes()
	op := OpText
	if e.Data.binary {
		op = OpBinary
	}
	deadline := time.Now().Add(e.Limit)
	s.mu.Lock()
	s.echo.stats.Limit = e.Limit
	s.mu.Unlock()
	ptr := 0
	for i := 0; i < e.Count; i++ {
		msg := ringSlice(data, &ptr, e.Len)
		s.mu.Lock()
		s.echo.expect = msg
		s.echo.stats.Sent++
		s.echo.stats.PayloadBytesOut += int64(len(msg))
		s.mu.Unlock()
		if s.sendMessage(op, msg, e.FragSize) != nil {
			return false
		}
		switch s.waitEcho(i+1, deadline) {
		case echoArrived:
			continue
		case echoTimeout:
			s.mu.Lock()
			s.echo.stats.TimedOut = true
			s.mu.Unlock()
			s.sendClose(closePayload(1000))
			return false
		case echoFailed:
			s.sendClose(closePayload(1000))
			return false
		default:
			return false
		}
	}
	s.sendClose(closePayload(1000))
	return true
}

// waitEcho waits until n echoes arrived, an echo was wrong, the peer
// violated the protocol or closed, or the deadline passed.
func (s *session) waitEcho(n int, deadline time.Time) echoWait {
	for {
		s.mu.Lock()
		st, viol, closed, ch := s.echo.stats, len(s.violations), s.closeRecv, s.changed
		s.mu.Unlock()
		switch {
		case st.Failure != "" || viol > 0:
			return echoFailed
		case st.Received >= n:
			return echoArrived
		case closed:
			return echoGone
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return echoTimeout
		}
		t := time.NewTimer(wait)
		select {
		case <-ch:
			t.Stop()
		case <-t.C:
			return echoTimeout
		case <-s.tcpDone:
			t.Stop()
			return echoGone
		case <-s.ctx.Done():
			t.Stop()
			return echoGone
		}
	}
}

// checkEcho compares an arriving message with the pending one, as
// Autobahn's 12.* onMessage does: type, length, then contents.
func (s *session) checkEcho(e Event, wire int, compressed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.echo
	n := st.stats.Received + 1
	st.stats.Received = n
	st.stats.PayloadBytesIn += int64(len(e.Payload))
	st.stats.WireBytesIn += int64(wire)
	if compressed {
		st.stats.Compressed++
	}
	want := st.expect
	st.expect = nil
	if st.stats.Failure == "" {
		switch {
		case want == nil:
			st.stats.Failure = fmt.Sprintf("Received message %d while no echo was pending.", n)
		case e.Binary != st.binary:
			st.stats.Failure = fmt.Sprintf("Echo'ed message %d type differs from what was sent (got binary %v, expected binary %v).", n, e.Binary, st.binary)
		case len(e.Payload) != len(want):
			st.stats.Failure = fmt.Sprintf("Echo'ed message %d length differs from what was sent (got length %d, expected length %d).", n, len(e.Payload), len(want))
		case !bytes.Equal(e.Payload, want):
			at := 0
			for at < len(want) && e.Payload[at] == want[at] {
				at++
			}
			st.stats.Failure = fmt.Sprintf("Echo'ed message %d contents differ from what was sent (first difference at byte %d of %d).", n, at, len(want))
		}
	}
	s.signalLocked()
}

// deflateEchoJudge judges an echo case: OK when every echo arrived in time
// and matched.
func deflateEchoJudge(o *Observation, r *Result) {
	st := o.Echo
	switch {
	case st == nil:
		r.Reason = "No echo statistics (internal error)."
	case st.Failure != "":
		r.Reason = st.Failure
	case st.Received < st.Count && st.TimedOut:
		r.Reason = fmt.Sprintf("Case did not finish within %d seconds: %d of %d echoes received.", int(st.Limit/time.Second), st.Received, st.Count)
	case st.Received < st.Count:
		r.Reason = fmt.Sprintf("Connection ended after %d of %d echoes.", st.Received, st.Count)
	default:
		r.Behavior = OK
		r.Reason = "Ok, received all echo'ed messages in time."
	}
	if st != nil && st.Sent > 0 {
		r.Details = append(r.Details, fmt.Sprintf("sent %d messages, %d payload bytes as %d bytes on the wire; received %d echoes (%d compressed), %d payload bytes as %d bytes on the wire",
			st.Sent, st.PayloadBytesOut, st.WireBytesOut, st.Received, st.Compressed, st.PayloadBytesIn, st.WireBytesIn))
	}
}
