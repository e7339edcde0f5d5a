//go:build !js

package wsio

import (
	"context"
	"strings"
	"testing"
)

// A whole message goes out without an allocation, on a server and on a
// client, in one frame or in several: SendBinary, SendText and
// SendPrepared take what they need from pools.
func TestSendAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop what is put back")
	}
	const frag = 1000
	ctx := context.Background()
	for _, client := range []bool{false, true} {
		c := newConn(sinkRWC{}, client, &Options{FragmentSize: frag}, nil)
		t.Cleanup(c.closeTransport)
		for _, n := range []int{0, 16, frag - 1, frag, 3 * frag, 64 << 10} {
			p := make([]byte, n)
			s := strings.Repeat("a", n)
			m, err := Prepare(Binary, p, frag)
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name string
				send func() error
			}{
				{"SendBinary", func() error { return c.SendBinary(ctx, p) }},
				{"SendText", func() error { return c.SendText(ctx, s) }},
				{"SendPrepared", func() error { return c.SendPrepared(ctx, m) }},
			} {
				if err := tc.send(); err != nil { // fills the pools
					t.Fatalf("%s: %v", tc.name, err)
				}
				allocs := testing.AllocsPerRun(50, func() {
					if err := tc.send(); err != nil {
						t.Fatalf("%s: %v", tc.name, err)
					}
				})
				if allocs != 0 {
					t.Errorf("client=%v: %s of %d bytes: %v allocations per message, want 0", client, tc.name, n, allocs)
				}
			}
		}
	}
}
