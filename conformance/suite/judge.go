package suite

import (
	"fmt"
	"slices"
	"strings"
)

// EventSummary is the report form of an Event.
type EventSummary struct {
	// Kind is the event kind.
	Kind EventKind `json:"kind"`
	// Binary tells whether a message was binary.
	Binary bool `json:"binary,omitempty"`
	// Length is the payload length.
	Length int `json:"length"`
	// Payload is the payload in hex when it is short.
	Payload string `json:"payload,omitempty"`
	// Tag is the timeout tag.
	Tag string `json:"tag,omitempty"`
}

// Result is the judged outcome of one case, as written to the JSON report.
type Result struct {
	// ID is the case id.
	ID string `json:"id"`
	// Description says what the case sends.
	Description string `json:"description"`
	// Expectation says what the peer must do.
	Expectation string `json:"expectation"`
	// NotAutobahn marks the suite's own cases.
	NotAutobahn bool `json:"notAutobahn,omitempty"`
	// Outcome is the overall verdict: the event verdict, made FAILED by a
	// FAILED or UNCLEAN close and NON-STRICT by a WRONG CODE or FAILED BY
	// CLIENT close.
	Outcome Outcome `json:"outcome"`
	// Behavior is the verdict on the events alone (Autobahn's "behavior").
	Behavior Outcome `json:"behavior"`
	// BehaviorClose is the verdict on the close (Autobahn's "behaviorClose").
	BehaviorClose CloseOutcome `json:"behaviorClose"`
	// Reason explains the event verdict.
	Reason string `json:"reason"`
	// ReasonClose explains the close verdict.
	ReasonClose string `json:"reasonClose"`
	// CloseCode is the peer's close code, if it sent one.
	CloseCode *int `json:"closeCode"`
	// CloseReason is the peer's close reason.
	CloseReason string `json:"closeReason,omitempty"`
	// ClosedByMe tells whether the suite started the closing handshake.
	ClosedByMe bool `json:"closedByMe"`
	// DroppedByMe tells whether the suite closed the TCP connection.
	DroppedByMe bool `json:"droppedByMe"`
	// PeerClosedTCP tells whether the peer closed the TCP connection.
	PeerClosedTCP bool `json:"peerClosedTcp"`
	// WasClean tells whether the connection closed cleanly.
	WasClean bool `json:"wasClean"`
	// DurationMS is the case duration in milliseconds.
	DurationMS int64 `json:"durationMs"`
	// ReportTime asks reports to show the duration.
	ReportTime bool `json:"reportTime,omitempty"`
	// Received lists the observed events (at most 50).
	Received []EventSummary `json:"received"`
	// ReceivedCount is the number of observed events.
	ReceivedCount int `json:"receivedCount"`
	// Details holds violations and other notes.
	Details []string `json:"details,omitempty"`
}

// Judge turns an observation into a result following Autobahn's rules: the
// received events are compared with each expected sequence, and the close is
// checked against the expected closing endpoint, cleanliness and codes.
func Judge(c *Case, o *Observation, role Role) *Result {
	r := &Result{
		ID: c.ID, Description: c.Description, Expectation: c.Expectation,
		NotAutobahn: c.NotAutobahn, ReportTime: c.ReportTime,
		ClosedByMe: o.ClosedByMe, DroppedByMe: o.DroppedByMe,
		PeerClosedTCP: o.PeerClosedTCP, WasClean: o.WasClean,
		DurationMS: o.Duration.Milliseconds(), ReceivedCount: len(o.Events),
		Received: []EventSummary{},
	}
	for i, e := range o.Events {
		if i == 50 {
			break
		}
		es := EventSummary{Kind: e.Kind, Binary: e.Binary, Length: len(e.Payload), Tag: e.Tag}
		if e.Kind != EventTimeout {
			es.Payload = describePayload(e.Payload)
		}
		r.Received = append(r.Received, es)
	}
	if o.HasRemoteCode {
		code := o.RemoteCloseCode
		r.CloseCode = &code
		r.CloseReason = o.RemoteCloseReason
	}
	if o.Err != nil {
		r.Outcome, r.Behavior, r.BehaviorClose = Failed, Failed, CloseFailed
		r.Reason = fmt.Sprintf("case could not run: %v", o.Err)
		r.ReasonClose = "no connection"
		return r
	}

	if o.Extension != "" {
		r.Details = append(r.Details, o.Extension)
	}

	// Events.
	r.Behavior = Failed
	r.Reason = "Actual events differ from any expected: got " + eventsString(o.Events)
	if c.judge != nil {
		c.judge(o, r)
	} else {
		for _, ex := range c.Expect {
			if eventsEqual(o.Events, ex.Events) {
				r.Behavior = ex.Outcome
				r.Reason = "Actual events match at least one expected."
				break
			}
		}
	}

	// Close.
	ec := c.Close
	switch {
	case ec.ByMe != o.ClosedByMe:
		r.BehaviorClose = CloseFailed
		r.ReasonClose = "The connection was failed by the wrong endpoint"
	case ec.RequireClean && !o.WasClean:
		r.BehaviorClose = CloseUnclean
		r.ReasonClose = "The spec requires the connection to be failed cleanly here: " + o.UncleanReason
	case o.HasRemoteCode && !slices.Contains(ec.Codes, o.RemoteCloseCode):
		r.BehaviorClose = CloseWrongCode
		r.ReasonClose = fmt.Sprintf("The close code should have been %s or empty, got %d", codesString(ec.Codes), o.RemoteCloseCode)
	case role == RoleClient && o.DroppedByMe:
		r.BehaviorClose = CloseFailedByClient
		r.ReasonClose = "It is preferred that the server close the TCP connection"
	default:
		r.BehaviorClose = CloseOK
		r.ReasonClose = "Connection was properly closed"
	}
	if ec.WrongEndpointFatal && ec.ByMe != o.ClosedByMe {
		r.Behavior = Failed
		r.Reason = "The peer did not fail the connection (the suite closed it): " + r.Reason
	}
	if c.WrongCodeFatal && r.BehaviorClose == CloseWrongCode {
		r.Behavior = Failed
		r.Reason = r.ReasonClose
	}
	if len(o.Violations) > 0 {
		r.Details = append(r.Details, o.Violations...)
	}
	if o.TimedOut {
		r.Details = append(r.Details, "case hit its time limit")
	}

	if c.Informational {
		if r.Behavior == OK {
			r.Reason = "Informational; the events matched the first expectation: " + eventsString(o.Events)
		} else {
			r.Reason = "Informational; observed events: " + eventsString(o.Events)
		}
		r.Behavior, r.BehaviorClose, r.Outcome = Informational, CloseInformational, Informational
		r.ReasonClose = "Informational; " + r.ReasonClose
		return r
	}

	if len(o.Violations) > 0 {
		r.Behavior = Failed
		r.Reason = "Peer violated the protocol: " + strings.Join(o.Violations, "; ")
	}
	if o.TimedOut {
		r.Behavior = Failed
		r.Reason = "Case did not finish within its time limit; " + r.Reason
	}
	r.Outcome = r.Behavior
	switch r.BehaviorClose {
	case CloseFailed, CloseUnclean:
		if r.Outcome != Failed {
			r.Outcome = Failed
			r.Reason = "Close behaviour " + string(r.BehaviorClose) + ": " + r.ReasonClose
		}
	case CloseWrongCode, CloseFailedByClient:
		if r.Outcome == OK {
			r.Outcome = NonStrict
			r.Reason = r.ReasonClose
		}
	}
	return r
}

func eventsString(evs []Event) string {
	if len(evs) == 0 {
		return "[]"
	}
	var b strings.Builder
	b.WriteString("[")
	for i, e := range evs {
		if i == 8 {
			fmt.Fprintf(&b, ", … %d more", len(evs)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		switch e.Kind {
		case EventTimeout:
			fmt.Fprintf(&b, "timeout %s", e.Tag)
		case EventMessage:
			kind := "text"
			if e.Binary {
				kind = "binary"
			}
			fmt.Fprintf(&b, "%s message %s", kind, describePayload(e.Payload))
		default:
			fmt.Fprintf(&b, "%s %s", e.Kind, describePayload(e.Payload))
		}
	}
	b.WriteString("]")
	return b.String()
}

func codesString(codes []int) string {
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprint(c)
	}
	return strings.Join(parts, ",")
}

// unimplementedResult is the result of a case that was not run: it is only
// listed, or the peer did not negotiate the extension it tests (Autobahn's
// UNIMPLEMENTED when permessage-deflate is not in use after the handshake).
func unimplementedResult(c *Case, reason string) *Result {
	if reason == "" {
		reason = "The case is listed but not implemented by the suite; it was not run."
	}
	return &Result{
		ID: c.ID, Description: c.Description, Expectation: c.Expectation,
		NotAutobahn: c.NotAutobahn,
		Outcome:     Unimplemented, Behavior: Unimplemented, BehaviorClose: CloseNotRun,
		Reason: reason, ReasonClose: "not run",
		Received: []EventSummary{},
	}
}

// negotiationFailedResult is the result of a case whose extension
// negotiation was invalid: the peer's offer or response broke RFC 7692.
func negotiationFailedResult(c *Case, reason string) *Result {
	return &Result{
		ID: c.ID, Description: c.Description, Expectation: c.Expectation,
		NotAutobahn: c.NotAutobahn,
		Outcome:     Failed, Behavior: Failed, BehaviorClose: CloseNotRun,
		Reason: "Invalid permessage-deflate negotiation: " + reason, ReasonClose: "not run",
		Received: []EventSummary{},
	}
}
