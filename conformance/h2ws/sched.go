package h2ws

import (
	"net/http"
	"strings"

	"golang.org/x/net/http2"
)

// ConfigureServer makes srv serve HTTP/2 with golang.org/x/net/http2's
// server and a write scheduler that sends a stream's WINDOW_UPDATE frames
// ahead of that stream's DATA. Call it before srv starts serving (for an
// httptest.Server, on its Config before StartTLS).
//
// Why: Go's HTTP/2 servers (net/http's bundled one and x/net's) queue a
// stream's WINDOW_UPDATE in that stream's own write queue, behind the
// stream's DATA. When that DATA waits for the peer's flow-control window,
// the server stops granting window on the stream even though its handler
// has read everything the peer sent. A peer that reads only after its
// write completes (a client echoing a large message as it streams in,
// such as the wsio client in family 9 at full size) then waits for a
// WINDOW_UPDATE the server will send only after the peer reads: neither
// moves. RFC 9113 section 6.9 ties a WINDOW_UPDATE to nothing but the
// bytes the receiver consumed, so sending it early is what the protocol
// means; the fuzzing server uses this so that the suite judges the client,
// not that server's scheduling.
func ConfigureServer(srv *http.Server) error {
	return http2.ConfigureServer(srv, &http2.Server{
		NewWriteScheduler: func() http2.WriteScheduler {
			return &windowFirst{WriteScheduler: http2.NewRandomWriteScheduler()}
		},
	})
}

// windowFirst is a write scheduler that pops stream WINDOW_UPDATE frames
// before anything its inner scheduler holds. The server calls it from its
// serving goroutine only.
type windowFirst struct {
	http2.WriteScheduler
	updates []http2.FrameWriteRequest // stream WINDOW_UPDATEs, in order
}

// isStreamWindowUpdate reports whether wr is a WINDOW_UPDATE for a stream.
// FrameWriteRequest keeps its frame unexported; its String names the
// frame's writer type.
func isStreamWindowUpdate(wr http2.FrameWriteRequest) bool {
	return wr.StreamID() != 0 && wr.DataSize() == 0 && strings.Contains(wr.String(), "writeWindowUpdate")
}

func (s *windowFirst) Push(wr http2.FrameWriteRequest) {
	if isStreamWindowUpdate(wr) {
		s.updates = append(s.updates, wr)
		return
	}
	s.WriteScheduler.Push(wr)
}

func (s *windowFirst) Pop() (http2.FrameWriteRequest, bool) {
	if len(s.updates) > 0 {
		wr := s.updates[0]
		s.updates[0] = http2.FrameWriteRequest{}
		s.updates = s.updates[1:]
		return wr, true
	}
	return s.WriteScheduler.Pop()
}

// CloseStream drops the stream's held WINDOW_UPDATEs with its queue: the
// server must not write a frame for a stream it has closed.
func (s *windowFirst) CloseStream(streamID uint32) {
	kept := s.updates[:0]
	for _, wr := range s.updates {
		if wr.StreamID() != streamID {
			kept = append(kept, wr)
		}
	}
	clear(s.updates[len(kept):])
	s.updates = kept
	s.WriteScheduler.CloseStream(streamID)
}
