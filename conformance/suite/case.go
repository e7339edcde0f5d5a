package suite

import (
	"bytes"
	"strings"
	"time"
)

// Outcome is the verdict of a case, with the meaning the Autobahn testsuite
// gives it.
type Outcome string

// The outcomes a case can have.
const (
	// OK means the peer behaved as the specification requires.
	OK Outcome = "OK"
	// NonStrict means the peer behaved acceptably but not in the strictest
	// way (for example it failed an invalid UTF-8 message only at its end).
	NonStrict Outcome = "NON-STRICT"
	// Failed means the peer violated the specification.
	Failed Outcome = "FAILED"
	// Unimplemented means the case was not run because the peer did not
	// negotiate the feature it tests (permessage-deflate for 12.* and
	// 13.*), or the case is listed without being implemented.
	Unimplemented Outcome = "UNIMPLEMENTED"
	// Informational means the specification leaves the behaviour open; the
	// observed behaviour is reported but not judged.
	Informational Outcome = "INFORMATIONAL"
)

// CloseOutcome is the verdict on how the connection was closed, with the
// values of the Autobahn testsuite's "close behaviour" column.
type CloseOutcome string

// The close outcomes.
const (
	// CloseOK means the connection was closed as expected.
	CloseOK CloseOutcome = "OK"
	// CloseFailed means the wrong endpoint closed the connection.
	CloseFailed CloseOutcome = "FAILED"
	// CloseWrongCode means the peer's close code was not an expected one.
	CloseWrongCode CloseOutcome = "WRONG CODE"
	// CloseUnclean means a clean closing handshake was required but did not
	// happen.
	CloseUnclean CloseOutcome = "UNCLEAN"
	// CloseFailedByClient means the suite, acting as client, had to drop
	// the TCP connection although the server should have.
	CloseFailedByClient CloseOutcome = "FAILED BY CLIENT"
	// CloseInformational means the close behaviour is not judged.
	CloseInformational CloseOutcome = "INFORMATIONAL"
	// CloseNotRun means the case did not run.
	CloseNotRun CloseOutcome = "NOT RUN"
)

// EventKind names the kind of an observed event.
type EventKind string

// The kinds of events a case records, as in Autobahn.
const (
	// EventMessage is a complete message from the peer.
	EventMessage EventKind = "message"
	// EventPing is a ping from the peer.
	EventPing EventKind = "ping"
	// EventPong is a pong from the peer.
	EventPong EventKind = "pong"
	// EventTimeout is a timer tag that fired while the connection was open.
	EventTimeout EventKind = "timeout"
)

// Event is one thing the suite observed from the peer (a complete message, a
// ping or a pong) or a timer tag that fired while the connection was open.
type Event struct {
	// Kind is the event kind.
	Kind EventKind
	// Payload is the message or control payload.
	Payload []byte
	// Binary tells, for messages, whether the message was binary.
	Binary bool
	// Tag names a timeout event.
	Tag string
}

func (e Event) equal(o Event) bool {
	return e.Kind == o.Kind && e.Binary == o.Binary && e.Tag == o.Tag && bytes.Equal(e.Payload, o.Payload)
}

func eventsEqual(a, b []Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].equal(b[i]) {
			return false
		}
	}
	return true
}

// Expected is one acceptable sequence of events together with the outcome it
// earns.
type Expected struct {
	// Outcome is the verdict when the received events equal Events.
	Outcome Outcome
	// Events is the exact sequence of events.
	Events []Event
}

// CloseExpect states how the connection is expected to end.
type CloseExpect struct {
	// ByMe tells whether the suite is expected to start the closing
	// handshake (true) or the peer is expected to fail the connection.
	ByMe bool
	// Codes lists the close codes accepted from the peer; an empty close
	// frame or no close frame is always accepted.
	Codes []int
	// RequireClean requires a completed closing handshake followed by a TCP
	// close by the server.
	RequireClean bool
	// WrongEndpointFatal makes the case FAILED when the wrong endpoint
	// closed (used by the UTF-8 cases: the peer did not detect the error).
	WrongEndpointFatal bool
}

// EndKind tells what the suite does when a case's script is over.
type EndKind int

// The end actions, named after Autobahn's closeAfter and killAfter.
const (
	// EndNone waits for the peer to finish the connection.
	EndNone EndKind = iota
	// EndClose starts a normal closing handshake after a delay.
	EndClose
	// EndKill fails the connection (close 1001, then drop) after a delay.
	EndKill
)

// End is the action taken after the script of a case.
type End struct {
	// Kind is the action.
	Kind EndKind
	// After is the delay before the action.
	After time.Duration
}

// Case is one conformance test case.
type Case struct {
	// ID is the Autobahn case id such as "6.4.1" (or "W.1.1" for the
	// suite's own cases).
	ID string
	// Description says what the case sends.
	Description string
	// Expectation says what the peer must do.
	Expectation string
	// Steps is the script executed after the opening handshake.
	Steps []Step
	// End is executed when the script is over.
	End End
	// Expect lists the acceptable event sequences in order of preference.
	Expect []Expected
	// Close states how the connection must end.
	Close CloseExpect
	// SuppressClose stops the suite from starting the closing handshake
	// as soon as the expected events have been received.
	SuppressClose bool
	// WrongCodeFatal makes a WRONG CODE close outcome fail the case.
	WrongCodeFatal bool
	// Informational marks cases whose behaviour the specification leaves
	// open.
	Informational bool
	// ReportTime asks the reports to show the case duration.
	ReportTime bool
	// Unimplemented marks cases that are listed but not run.
	Unimplemented bool
	// Deflate, when set, makes the suite offer (as client) or accept (as
	// server) permessage-deflate; when the peer does not negotiate it the
	// case is UNIMPLEMENTED, when the negotiation is invalid it FAILED.
	Deflate *DeflateSpec
	// Heavy marks cases that run alone, never in parallel with others.
	Heavy bool
	// NotAutobahn marks cases that the Autobahn testsuite does not have.
	NotAutobahn bool
	// Timeout bounds the whole case; zero means it is computed.
	Timeout time.Duration
	// judge, when set, replaces the generic judgement of the events.
	judge func(o *Observation, r *Result)
	// closeOnMessages, when non-zero, makes the suite close normally once
	// that many messages were received (Autobahn's 9.x onMessage).
	closeOnMessages int
}

// Family returns the leading component of the case id ("6" for "6.4.1").
func (c *Case) Family() string {
	fam, _, _ := strings.Cut(c.ID, ".")
	return fam
}

// budget returns the hard time limit of the case.
func (c *Case) budget(cfg *EngineConfig) time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	d := c.End.After + 2*cfg.CloseTimeout + 2*cfg.DropTimeout + 5*time.Second
	for _, s := range c.Steps {
		d += s.budget()
	}
	return d
}
