//go:build !js

package wsio

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsio/wsio/conn"
)

// sendfileMu serializes the tests that read the sendfileFrames counter.
var sendfileMu sync.Mutex

func tempFile(t testing.TB, size int) (*os.File, [32]byte) {
	t.Helper()
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(size), 1))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, sha256.Sum256(data)
}

// A server streaming a file through io.Copy sends whole fragments with
// sendfile, after topping up what a previous Write left in the buffer;
// the frames on the wire are exactly the fragment size.
func TestSendFileZeroCopy(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("sendfile path is Linux-only; the fallback is covered by TestSendFileFallbacks")
	}
	sendfileMu.Lock()
	defer sendfileMu.Unlock()
	const frag = 64 << 10
	const size = 5<<20 + 123
	f, sum := tempFile(t, size)
	before := sendfileFrames.Load()
	url := testServer(t, &ServerOptions{Options: Options{FragmentSize: frag}}, func(c *Conn) {
		ctx := context.Background()
		w, err := c.BeginBinary(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		head := make([]byte, 1000)
		if _, err := io.ReadFull(f, head); err != nil {
			t.Error(err)
			return
		}
		_, _ = w.Write(head)
		if _, err := io.Copy(w, f); err != nil { // through (*os.File).WriteTo's wrapper
			t.Errorf("Copy: %v", err)
		}
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		_, _ = c.Next(ctx)
	})
	p := rawDial(t, url)
	h := sha256.New()
	total, frames := 0, 0
	for {
		hd, payload, err := p.readFrame()
		if err != nil {
			t.Fatal(err)
		}
		frames++
		if !hd.Fin && len(payload) != frag {
			t.Fatalf("frame %d has %d bytes, want exactly %d", frames, len(payload), frag)
		}
		h.Write(payload)
		total += len(payload)
		if hd.Fin {
			break
		}
	}
	if total != size || [32]byte(h.Sum(nil)) != sum {
		t.Fatalf("received %d bytes, different content", total)
	}
	// 1000 bytes were buffered: one fragment is topped up by a plain read,
	// the other full ones go through sendfile.
	if got, want := sendfileFrames.Load()-before, int64(size/frag-1); got != want {
		t.Fatalf("%d frames went through sendfile, want %d", got, want)
	}
	p.frame(true, 0, conn.OpClose, []byte{3, 232}, false)
}

// TLS, compression and the client role cannot use sendfile: the same
// io.Copy falls back to the plain path, byte-exact.
func TestSendFileFallbacks(t *testing.T) {
	sendfileMu.Lock()
	defer sendfileMu.Unlock()
	const size = 3<<20 + 7
	tests := []struct {
		name   string
		tls    bool
		deflat bool
		client bool
	}{
		{"tls", true, false, false},
		{"deflate", false, true, false},
		{"client role", false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, sum := tempFile(t, size)
			before := sendfileFrames.Load()
			var comp *Compression
			if tt.deflat {
				comp = &Compression{}
			}
			got := make(chan [32]byte, 1)
			handler := func(c *Conn) {
				ctx := context.Background()
				if tt.client {
					m, err := c.Next(ctx)
					if err == nil {
						h := sha256.New()
						_, _ = io.Copy(h, m)
						got <- [32]byte(h.Sum(nil))
					}
				} else {
					w, _ := c.BeginBinary(ctx)
					_, _ = io.Copy(w, f)
					_ = w.Close()
				}
				_, _ = c.Next(ctx)
			}
			var url string
			o := &DialOptions{Options: Options{Compression: comp, FragmentSize: 100_000}}
			if tt.tls {
				srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					c, err := Accept(w, r, &ServerOptions{Options: Options{FragmentSize: 100_000}})
					if err == nil {
						handler(c)
						c.closeTransport()
					}
				}))
				defer srv.Close()
				url = "wss" + strings.TrimPrefix(srv.URL, "https")
				o.TLSConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
				o.TLSConfig.MinVersion = tls.VersionTLS12
			} else {
				url = testServer(t, &ServerOptions{Options: Options{Compression: comp, FragmentSize: 100_000}}, handler)
			}
			c := dial(t, url, o)
			ctx := context.Background()
			if tt.client {
				w, _ := c.BeginBinary(ctx)
				if _, err := io.Copy(w, f); err != nil {
					t.Fatal(err)
				}
				_ = w.Close()
				if s := <-got; s != sum {
					t.Fatal("server got different bytes")
				}
			} else {
				m, err := c.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				h := sha256.New()
				if n, err := io.Copy(h, m); err != nil || n != size || [32]byte(h.Sum(nil)) != sum {
					t.Fatalf("got %d bytes, %v, or different content", n, err)
				}
			}
			if d := sendfileFrames.Load() - before; d != 0 {
				t.Fatalf("%d frames went through sendfile on a %s connection", d, tt.name)
			}
			_ = c.Close(StatusNormalClosure, "")
		})
	}
}

// A client copying a binary message into a file lets (*os.File).ReadFrom
// take each frame's payload straight from the socket; byte-exact, and the
// message's end is found across fragments and control frames.
func TestReceiveIntoFile(t *testing.T) {
	sendfileMu.Lock()
	defer sendfileMu.Unlock()
	const size = 4<<20 + 99
	src, sum := tempFile(t, size)
	url := testServer(t, &ServerOptions{Options: Options{FragmentSize: 300_000}}, func(c *Conn) {
		ctx := context.Background()
		w, _ := c.BeginBinary(ctx)
		_, _ = io.Copy(w, src)
		_ = c.writeFrame(ctx, true, 0, conn.OpPing, []byte("between fragments")) // a control frame between fragments
		_ = w.Close()
		_, _ = c.Next(ctx)
	})
	c := dial(t, url, &DialOptions{Options: Options{Compression: &Compression{Disabled: true}}})
	m, err := c.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	before := spliceFrames.Load()
	n, err := io.Copy(out, m)
	if err != nil || n != size {
		t.Fatalf("copied %d, %v", n, err)
	}
	if spliceFrames.Load() == before {
		t.Fatal("no payload went through (*os.File).ReadFrom")
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	_, _ = io.Copy(h, out)
	if [32]byte(h.Sum(nil)) != sum {
		t.Fatal("file content differs")
	}
	if _, err := m.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after the message: %v, want io.EOF", err)
	}
	_ = c.Close(StatusNormalClosure, "")
}

// BenchmarkSendFile measures a file sent as one binary message by a server
// (io.Copy from the file: sendfile for whole fragments) and received by a
// client, per op one 4 MiB message: "discard" reads it through Message.Read,
// "to-file" copies it into a file ((*os.File).ReadFrom over the socket).
func BenchmarkSendFile(b *testing.B) {
	const size = 4 << 20
	for _, sink := range []string{"discard", "to-file"} {
		b.Run(sink, func(b *testing.B) {
			f, _ := tempFile(b, size)
			ctx := context.Background()
			url := testServer(b, nil, func(c *Conn) {
				for {
					if _, err := c.Next(ctx); err != nil {
						return
					}
					if _, err := f.Seek(0, io.SeekStart); err != nil {
						return
					}
					w, err := c.BeginBinary(ctx)
					if err != nil {
						return
					}
					if _, err := io.Copy(w, f); err != nil {
						return
					}
					if err := w.Close(); err != nil {
						return
					}
				}
			})
			dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			c, _, err := Dial(dctx, url, &DialOptions{Options: Options{Compression: &Compression{Disabled: true}}})
			cancel()
			if err != nil {
				b.Fatal(err)
			}
			defer c.closeTransport()
			var dst io.Writer = io.Discard
			if sink == "to-file" {
				out, err := os.Create(filepath.Join(b.TempDir(), "out"))
				if err != nil {
					b.Fatal(err)
				}
				defer out.Close()
				dst = out
			}
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				if err := c.SendText(ctx, "go"); err != nil {
					b.Fatal(err)
				}
				m, err := c.Next(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if out, ok := dst.(*os.File); ok {
					if _, err := out.Seek(0, io.SeekStart); err != nil {
						b.Fatal(err)
					}
				}
				if n, err := io.Copy(dst, m); err != nil || n != size {
					b.Fatalf("received %d, %v", n, err)
				}
			}
		})
	}
}
