//go:build !js

package wsio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"
)

// relayPayload is n bytes of a fixed pseudo-random pattern.
func relayPayload(n int) []byte {
	p := make([]byte, n)
	r := rand.NewChaCha8([32]byte{'r', 'e', 'l', 'a', 'y'})
	_, _ = r.Read(p)
	return p
}

// relayEcho is a server handler that relays every binary message back
// to its sender with io.Copy into a BeginBinary writer, as a proxy
// relays to another connection.
func relayEcho(c *Conn) {
	ctx := context.Background()
	for {
		m, err := c.Next(ctx)
		if err != nil {
			return
		}
		w, err := c.BeginBinary(ctx)
		if err != nil {
			return
		}
		_, err = io.Copy(w, m)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return
		}
	}
}

// TestRelayOneCopy relays messages of many sizes, fragmented differently
// on each side, through io.Copy(BinaryWriter, Message): the bytes come
// back exact, and an uncompressed writer takes them straight into its
// fragment buffer (relayedMessages) while a compressed one takes the
// general path. It reads a global counter, so it does not run in
// parallel.
func TestRelayOneCopy(t *testing.T) {
	sizes := []int{0, 1, 511, 512, 999, 1000, 1001, 4096, 3*1000 + 17, 200 << 10}
	for _, tc := range []struct {
		name     string
		compress bool
	}{
		{"plain", false},
		{"compressed", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			so := &ServerOptions{Options: Options{FragmentSize: 1000}}
			co := &DialOptions{Options: Options{FragmentSize: 700}}
			if tc.compress {
				so.Compression = &Compression{Threshold: -1}
			} else {
				co.Compression = &Compression{Disabled: true}
			}
			url := testServer(t, so, relayEcho)
			c := dial(t, url, co)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			before := relayedMessages.Load()
			for _, n := range sizes {
				want := relayPayload(n)
				w, err := c.BeginBinary(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := w.Write(want); err != nil {
					t.Fatal(err)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				m, err := c.Next(ctx)
				if err != nil {
					t.Fatalf("%d bytes: Next: %v", n, err)
				}
				got, err := io.ReadAll(m)
				if err != nil {
					t.Fatalf("%d bytes: reading the relayed message: %v", n, err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%d bytes: relayed %d bytes that differ from those sent", n, len(got))
				}
			}
			relayed := relayedMessages.Load() - before
			if tc.compress && relayed != 0 {
				t.Errorf("a compressed writer took the one-copy path %d times", relayed)
			}
			if !tc.compress && relayed != int64(len(sizes)) {
				t.Errorf("%d of %d messages took the one-copy path", relayed, len(sizes))
			}
		})
	}
}

// TestRelayRules checks that a relay through io.Copy keeps the rules of
// both sides: the received message's limit, its context and staleness,
// and the writer's context.
func TestRelayRules(t *testing.T) {
	t.Parallel()
	type result struct {
		n    int64
		err  error
		rest []byte // what a plain read of the message found afterwards
	}
	cases := []struct {
		name  string
		size  int
		opts  ServerOptions
		relay func(c *Conn, m Message) result
		check func(t *testing.T, r result, c *Conn)
	}{
		{
			name: "over MaxBinaryMessage",
			size: 8000,
			opts: ServerOptions{Options: Options{MaxBinaryMessage: 5000, FragmentSize: 1000}},
			relay: func(c *Conn, m Message) result {
				w, err := c.BeginBinary(context.Background())
				if err != nil {
					return result{err: err}
				}
				n, err := io.Copy(w, m)
				_ = w.Close()
				return result{n: n, err: err}
			},
			check: func(t *testing.T, r result, c *Conn) {
				if !errors.Is(r.err, ErrMessageTooBig) {
					t.Errorf("io.Copy: %v, want an error matching ErrMessageTooBig", r.err)
				}
				_, err := c.Next(context.Background())
				for err == nil {
					_, err = c.Next(context.Background())
				}
				var ce *CloseError
				if !errors.As(err, &ce) || ce.Code != StatusMessageTooBig {
					t.Errorf("the client's read ended with %v, want a close with 1009", err)
				}
			},
		},
		{
			name: "writer's context done",
			size: 3000,
			relay: func(c *Conn, m Message) result {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				w, err := c.BeginBinary(ctx)
				if err != nil {
					return result{err: err}
				}
				cancel()
				n, err := io.Copy(w, m)
				_ = w.Close()
				rest, _ := io.ReadAll(m)
				return result{n: n, err: err, rest: rest}
			},
			check: func(t *testing.T, r result, c *Conn) {
				if !errors.Is(r.err, context.Canceled) || r.n != 0 {
					t.Errorf("io.Copy: %d, %v; want 0 and an error matching context.Canceled", r.n, r.err)
				}
				if !bytes.Equal(r.rest, relayPayload(3000)) {
					t.Errorf("the message read on after the refused relay: %d bytes, want all 3000 intact", len(r.rest))
				}
			},
		},
		{
			name: "message's context done",
			size: 3000,
			relay: func(c *Conn, m Message) result {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				w, err := c.BeginBinary(context.Background())
				if err != nil {
					return result{err: err}
				}
				n, err := io.Copy(w, m.WithContext(ctx))
				_ = w.Close()
				rest, _ := io.ReadAll(m)
				return result{n: n, err: err, rest: rest}
			},
			check: func(t *testing.T, r result, c *Conn) {
				if !errors.Is(r.err, context.Canceled) || r.n != 0 {
					t.Errorf("io.Copy: %d, %v; want 0 and an error matching context.Canceled", r.n, r.err)
				}
				if !bytes.Equal(r.rest, relayPayload(3000)) {
					t.Errorf("the message read on after the refused relay: %d bytes, want all 3000 intact", len(r.rest))
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := make(chan result, 1)
			url := testServer(t, &tc.opts, func(c *Conn) {
				m, err := c.Next(context.Background())
				if err != nil {
					got <- result{err: err}
					return
				}
				got <- tc.relay(c, m)
				for {
					if _, err := c.Next(context.Background()); err != nil {
						return
					}
				}
			})
			c := dial(t, url, &DialOptions{Options: Options{FragmentSize: 1000, Compression: &Compression{Disabled: true}}})
			if err := c.SendBinary(context.Background(), relayPayload(tc.size)); err != nil {
				t.Fatal(err)
			}
			var r result
			select {
			case r = <-got:
			case <-time.After(10 * time.Second):
				t.Fatal("the relay did not finish")
			}
			tc.check(t, r, c)
		})
	}
}

// TestRelayStaleMessage: io.Copy from a message that a later Next made
// stale fails with ErrStaleMessage and sends nothing.
func TestRelayStaleMessage(t *testing.T) {
	t.Parallel()
	type result struct {
		n   int64
		err error
	}
	got := make(chan result, 1)
	url := testServer(t, &ServerOptions{}, func(c *Conn) {
		ctx := context.Background()
		old, err := c.Next(ctx)
		if err != nil {
			got <- result{err: err}
			return
		}
		if _, err := c.Next(ctx); err != nil {
			got <- result{err: err}
			return
		}
		w, err := c.BeginBinary(ctx)
		if err != nil {
			got <- result{err: err}
			return
		}
		n, err := io.Copy(w, old)
		_ = w.Close()
		got <- result{n, err}
	})
	c := dial(t, url, &DialOptions{Options: Options{Compression: &Compression{Disabled: true}}})
	for i := 0; i < 2; i++ {
		if err := c.SendBinary(context.Background(), relayPayload(2000)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case r := <-got:
		if !errors.Is(r.err, ErrStaleMessage) || r.n != 0 {
			t.Errorf("io.Copy of a stale message: %d, %v; want 0 and ErrStaleMessage", r.n, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the relay did not finish")
	}
}
