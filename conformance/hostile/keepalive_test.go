package hostile

import (
	"testing"
	"time"

	"github.com/wsio/wsio"
)

// TestKeepalive: with KeepaliveInterval 200 ms and KeepaliveTimeout
// 200 ms, a peer that answers pings stays connected; a peer that reads
// the pings but never answers is cut, and the handler's Next fails with a
// 1006 CloseError wrapping ErrKeepalive.
func TestKeepalive(t *testing.T) {
	t.Parallel()
	for _, answer := range []bool{true, false} {
		name := map[bool]string{true: "answering", false: "silent"}[answer]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tried := map[bool]string{
				true:  "KeepaliveInterval 200 ms / KeepaliveTimeout 200 ms; the peer answers every ping for 1.5 s",
				false: "KeepaliveInterval 200 ms / KeepaliveTimeout 200 ms; the peer reads the pings and never answers",
			}[answer]
			r := record(t, "Keepalive", tried)
			opts := wsio.ServerOptions{Options: wsio.Options{KeepaliveInterval: 200 * time.Millisecond, KeepaliveTimeout: 200 * time.Millisecond}}
			s := startServer(t, opts, echo(true))
			a := dialWS(t, s)
			start := time.Now()
			pings := 0
			var endErr error
			for time.Since(start) < 1500*time.Millisecond {
				f, err := a.readFrame(2 * time.Second)
				if err != nil {
					endErr = err
					break
				}
				if f.Opcode == opPing {
					pings++
					if answer {
						a.mustWrite(frame(true, 0, opPong, f.Payload))
					}
				}
			}
			lasted := time.Since(start)
			if answer {
				_, stillOpen := s.result(a.addr(), 0)
				a.mustWrite(frame(true, 0, opClose, closePayload(1000, "")))
				code, _, _, err := a.awaitClose(2 * time.Second)
				_ = a.nc.Close()
				res := s.mustResult(t, a.addr(), 5*time.Second)
				r.saw("%d pings in %v, all answered; connection still open (%v); closed %d; handler: %v", pings, fmtDur(lasted), stillOpen != nil, code, desc(res.err))
				if pings < 4 {
					t.Errorf("%d pings in 1.5 s, want about 7", pings)
				}
				if stillOpen == nil {
					t.Error("the connection ended though every ping was answered")
				}
				if err != nil || code != 1000 {
					t.Errorf("close %d %v", code, err)
				}
				return
			}
			res := s.mustResult(t, a.addr(), 5*time.Second)
			r.saw("%d ping(s), then the connection was cut after %v (%v); handler: %v", pings, fmtDur(lasted), endErr, desc(res.err))
			if !isClosedErr(endErr) {
				t.Errorf("the peer's read ended with %v, want the connection closed", endErr)
			}
			if lasted < 350*time.Millisecond || lasted > 1200*time.Millisecond {
				t.Errorf("cut after %v, want about interval + timeout (400 ms)", lasted)
			}
			if msg := checkCloseErr(res.err, wsio.StatusAbnormalClosure, false, wsio.ErrKeepalive); msg != "" {
				t.Errorf("handler: %s", msg)
			}
		})
	}
}
