package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestCode runs the code step in a tiny configuration (one round, a
// timed part of a few milliseconds) for every server shape and checks
// that each measured a positive time per message for both sizes, that
// the allocation figures are there, and that every run tore its server
// down: no goroutine is left once the step is over.
func TestCode(t *testing.T) {
	before := runtime.NumGoroutine()
	md := filepath.Join(t.TempDir(), "code.md")
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := run(ctx, []string{"code", "-rounds", "1", "-cdur", "5ms", "-md", md}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	cols := withHTTP([]string{"wsio", "gorilla", "coder", "gws", "gobwas", "raw"})
	tables := rep.Tables("code")
	if len(tables) != 4 {
		t.Fatalf("%d code tables, want 4", len(tables))
	}
	for i, tb := range tables {
		if len(tb.rows) != 2 {
			t.Errorf("%s: rows %q, want 16 B and 1 KiB", tb.title, tb.rows)
		}
		for _, row := range tb.rows {
			for _, lib := range cols {
				v, ok := tb.Median(row, lib)
				// The first two tables are times; the allocation
				// tables may hold 0 (a library that allocates nothing).
				bad := !ok || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || (i < 2 && v == 0)
				if bad {
					t.Errorf("%s / %s / %s: got %v (measured: %v)", tb.title, row, lib, v, ok)
				}
			}
		}
	}
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## code", "| 16 B, round 1 |", "| 1 KiB |", "wsio-events/best", "in-memory net.Conn"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, b)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines left after the code step (%d before):\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
	t.Logf("tables:\n%s", stdout.String())
}

// TestCodeConn checks the in-memory connection the code step serves: the
// request comes first; a read past it waits for the handshake reply and
// gives up when a past read deadline is set (as net/http's
// abortPendingRead sets one); once the 101 head is written, a write that
// carries the head and the first reply reports its whole length, reads
// hand out one frame at most, never block and end with io.EOF once the
// last reply is written; a refused upgrade fails the connection.
func TestCodeConn(t *testing.T) {
	t.Parallel()
	c := newCodeConn(false, 16, 1, 1)
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil || !bytes.Equal(buf[:n], floorRequest) {
		t.Fatalf("first read: %q, %v; want the request", buf[:n], err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.Read(buf[:1])
		errc <- err
	}()
	select {
	case err := <-errc:
		t.Fatalf("a read before the handshake reply returned at once: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	_ = c.SetReadDeadline(time.Unix(1, 0))
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read after a past deadline: %v, want os.ErrDeadlineExceeded", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a past read deadline did not end the waiting read")
	}
	_ = c.SetReadDeadline(time.Time{})

	// The 101 head split across two writes, the second carrying the
	// first echo's header too.
	head := string(floorResponse)
	if n, err := c.Write([]byte(head[:20])); n != 20 || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	second := append([]byte(head[20:]), c.want[:2]...)
	if n, err := c.Write(second); n != len(second) || err != nil {
		t.Fatalf("write of the head's end and a reply's start: %d, %v; want %d, nil", n, err, len(second))
	}
	for range 3 {
		n, err := c.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], c.frame) {
			t.Fatalf("read: % x, %v; want one frame % x", buf[:n], err, c.frame)
		}
	}
	if n, err := c.Read(buf[:5]); n != 5 || err != nil || !bytes.Equal(buf[:5], c.frame[:5]) {
		t.Fatalf("short read: % x, %v", buf[:n], err)
	}
	if n, err := c.Read(buf); err != nil || !bytes.Equal(buf[:n], c.frame[5:]) {
		t.Fatalf("rest of the frame: % x, %v", buf[:n], err)
	}
	_, _ = c.Write(c.want[2:]) // the first (warm-up) echo: the timed part starts
	_, _ = c.Write(c.want)     // the second: the round is over
	select {
	case <-c.done:
	default:
		t.Fatal("done not closed after the last echo")
	}
	if err := c.err(); err != nil {
		t.Fatalf("err: %v", err)
	}
	if _, err := c.Read(buf); err != io.EOF {
		t.Fatalf("read after the round: %v, want io.EOF", err)
	}
	_ = c.Close()
	if _, err := c.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close: %v, want net.ErrClosed", err)
	}

	refused := newCodeConn(false, 16, 1, 1)
	if _, err := refused.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n")); err == nil || refused.err() == nil {
		t.Errorf("a 400 reply: write error %v, connection error %v; want both set", err, refused.err())
	}
}

// TestCodeAllocs: wsio's servers allocate nothing per echoed message, but
// for the event servers' one, the Message boxed into the io.Reader their
// Binary callback takes. The figure is process-wide over the timed part,
// so it carries the odd allocation made elsewhere: the bounds leave room
// for that and none for a second allocation per message. It skips under
// the race detector; test.sh runs it without.
func TestCodeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers: allocation counts vary")
	}
	for _, c := range []struct {
		lib  string
		most float64
	}{{"wsio", 0.5}, {"wsio-http", 0.5}, {"wsio-events", 1.5}, {"wsio-events-http", 1.5}} {
		t.Run(c.lib, func(t *testing.T) {
			res, err := codeOnce(anyLib(c.lib), 16, 20000)
			if err != nil {
				t.Fatal(err)
			}
			if per := float64(res.mallocs) / float64(res.n); per > c.most {
				t.Errorf("%.2f allocations per echoed message, want at most %v", per, c.most)
			}
		})
	}
}
