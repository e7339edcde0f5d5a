//go:build !js

package wsio

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// Broadcast sends one message to every open connection except those
// listed in except (the sender of a chat message, say). The message is
// framed (and, for peers without context takeover, compressed) once; each
// connection gets it on its own goroutine, so a slow peer delays only
// itself (bound the wait with ctx). A connection with an open binary
// stream gets the message after the stream ends. When some connections
// were not reached the error is a *BroadcastError naming them.
//
// If ctx is already done, Broadcast returns ctx.Err() and sends nothing
// to anyone. If ctx ends while a connection's copy is partly written, that
// connection is closed (see Conn.SendPrepared).
func (s *Server) Broadcast(ctx context.Context, kind Kind, data []byte, except ...*Conn) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := Prepare(kind, data, s.opts.FragmentSize)
	if err != nil {
		return err
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed map[*Conn]error
		first  error
		total  int
	)
	for c := range s.Conns() {
		if slices.Contains(except, c) {
			continue
		}
		total++
		wg.Go(func() {
			if err := c.SendPrepared(ctx, p); err != nil {
				mu.Lock()
				if failed == nil {
					failed = make(map[*Conn]error)
				}
				failed[c] = err
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		return &BroadcastError{Reached: total - len(failed), Failed: failed, first: first}
	}
	return nil
}

// BroadcastError reports the connections a Broadcast did not reach. It
// matches (errors.Is) every error that stopped a send.
type BroadcastError struct {
	// Reached counts the connections that got the message.
	Reached int
	// Failed holds the connections that did not, each with its error.
	Failed map[*Conn]error
	first  error
}

// Error says how many connections were reached and why the first failure
// happened.
func (e *BroadcastError) Error() string {
	return fmt.Sprintf("websocket: broadcast reached %d of %d connections: %v", e.Reached, e.Reached+len(e.Failed), e.first)
}

// Unwrap returns the errors of the failed sends.
func (e *BroadcastError) Unwrap() []error {
	errs := make([]error, 0, len(e.Failed))
	for _, err := range e.Failed {
		errs = append(errs, err)
	}
	return errs
}
