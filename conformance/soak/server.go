package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/conformance/internal/proc"
)

// serverReport is the server child's answer to STATS: its settled process
// figures and its counters.
type serverReport struct {
	Stats          proc.Stats `json:"stats"`           // after GC, see proc.Settled
	PeakGoroutines int64      `json:"peak_goroutines"` // largest sampled, no GC
	PeakHeapInuse  uint64     `json:"peak_heap_inuse"` // largest sampled, no GC (includes garbage)
	Open           int        `json:"open"`            // wsio.Server.Len()
	Handlers       int64      `json:"handlers"`        // handler goroutines running
	Accepted       int64      `json:"accepted"`        // connections upgraded
	Messages       int64      `json:"messages"`        // binary messages received
	Echoed         int64      `json:"echoed"`          // binary messages echoed whole
	EchoedBytes    int64      `json:"echoed_bytes"`
	Injected       int64      `json:"injected"`     // faults injected (-corrupt-every, -drop-every)
	CleanCloses    int64      `json:"clean_closes"` // the client closed with 1000
	KeepaliveErrs  int64      `json:"keepalive_errs"`
	OtherErrs      int64      `json:"other_errs"`
	TextMessages   int64      `json:"text_messages"` // unexpected
	PingsIn        int64      `json:"pings_in"`      // the client's keepalive pings, answered
	PongsIn        int64      `json:"pongs_in"`      // answers to this side's keepalive pings
	Errors         []string   `json:"errors,omitempty"`
}

// soakServer is the server child's state.
type soakServer struct {
	cfg   *config
	srv   *wsio.Server
	start time.Time
	peak  peakSampler

	handlers, accepted, messages, echoed, echoedBytes, injected atomic.Int64
	cleanCloses, keepaliveErrs, otherErrs, textMessages         atomic.Int64
	pingsIn, pongsIn                                            atomic.Int64

	mu     sync.Mutex
	errors []string
}

// serverMain is the server child: it listens on 127.0.0.1, prints LISTEN
// with the address, echoes every binary message it gets and answers STATS
// on stdin until stdin closes.
func serverMain(cfg *config) error {
	proc.RaiseNoFile()
	s := &soakServer{cfg: cfg, start: time.Now()}
	s.srv = wsio.NewServer(wsio.ServerOptions{Options: wsio.Options{
		KeepaliveInterval: cfg.keepalive,
		KeepaliveTimeout:  cfg.keepaliveTimeout,
		OnPing:            func([]byte) { s.pingsIn.Add(1) },
		OnPong:            func([]byte) { s.pongsIn.Add(1) },
	}}, s.handle)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() {
		if err := s.srv.Serve(ln); err != nil {
			s.noteErr(fmt.Errorf("Serve: %w", err))
		}
	}()
	if cfg.profileDir != "" {
		s.peak.peakDump = filepath.Join(cfg.profileDir, "goroutines-peak.txt")
	}
	s.peak.start(time.Second)
	proc.Emit("LISTEN", ln.Addr().String())
	stop := startCPUProfile(cfg.profileDir, "server")
	defer stop()
	sc := bufio.NewScanner(os.Stdin)
	for n := 0; sc.Scan(); {
		if sc.Text() == "STATS" {
			proc.Emit("STATS", s.report())
			if cfg.profileDir != "" {
				proc.WriteHeapProfile(filepath.Join(cfg.profileDir, fmt.Sprintf("heap-%02d.pprof", n)))
				writeGoroutines(filepath.Join(cfg.profileDir, fmt.Sprintf("goroutines-%02d.txt", n)))
				n++
			}
		}
	}
	return nil // stdin closed: the parent is done with us
}

// report gathers the STATS answer.
func (s *soakServer) report() serverReport {
	st := proc.Settled()
	s.peak.sample()
	s.mu.Lock()
	errs := append([]string(nil), s.errors...)
	s.mu.Unlock()
	return serverReport{
		Stats:          st,
		PeakGoroutines: s.peak.goroutines.Load(),
		PeakHeapInuse:  s.peak.heap.Load(),
		Open:           s.srv.Len(),
		Handlers:       s.handlers.Load(),
		Accepted:       s.accepted.Load(),
		Messages:       s.messages.Load(),
		Echoed:         s.echoed.Load(),
		EchoedBytes:    s.echoedBytes.Load(),
		Injected:       s.injected.Load(),
		CleanCloses:    s.cleanCloses.Load(),
		KeepaliveErrs:  s.keepaliveErrs.Load(),
		OtherErrs:      s.otherErrs.Load(),
		TextMessages:   s.textMessages.Load(),
		PingsIn:        s.pingsIn.Load(),
		PongsIn:        s.pongsIn.Load(),
		Errors:         errs,
	}
}

// maxErrors is how many error texts each process keeps for the report.
const maxErrors = 10

// noteErr keeps the first few errors, stamped with the time since start.
func (s *soakServer) noteErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errors) < maxErrors {
		s.errors = append(s.errors, fmt.Sprintf("+%s %v", time.Since(s.start).Round(time.Millisecond), err))
	}
}

// handle runs on each connection's own goroutine (the one Serve started): it reads
// messages with Next and echoes each binary message as it streams in,
// BeginBinary + io.Copy from the Message reader, never holding it whole.
func (s *soakServer) handle(c *wsio.Conn) {
	s.handlers.Add(1)
	defer s.handlers.Add(-1)
	s.accepted.Add(1)
	ctx := context.Background()
	for {
		m, err := c.Next(ctx)
		if err != nil {
			s.ended(c, err)
			return
		}
		if m.Kind != wsio.Binary {
			s.textMessages.Add(1)
			continue
		}
		k := s.messages.Add(1)
		if s.cfg.dropEvery > 0 && k%int64(s.cfg.dropEvery) == 0 {
			s.injected.Add(1) // fault injection: no echo
			continue          // Next discards the unread message
		}
		if err := s.echo(ctx, c, m, k); err != nil {
			s.otherErrs.Add(1)
			s.noteErr(fmt.Errorf("echo on %v: %w", c.RemoteAddr(), err))
			return
		}
	}
}

// echo streams message m back as one binary message.
func (s *soakServer) echo(ctx context.Context, c *wsio.Conn, m wsio.Message, k int64) error {
	w, err := c.BeginBinary(ctx)
	if err != nil {
		return err
	}
	var dst io.Writer = w
	if s.cfg.corruptEvery > 0 && k%int64(s.cfg.corruptEvery) == 0 {
		s.injected.Add(1)
		dst = &flipFirst{w: w} // fault injection: one bit of the echo flipped
	}
	n, err := io.Copy(dst, m)
	if err != nil {
		_ = w.Close()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	s.echoed.Add(1)
	s.echoedBytes.Add(n)
	return nil
}

// ended counts how a connection ended.
func (s *soakServer) ended(c *wsio.Conn, err error) {
	var ce *wsio.CloseError
	switch {
	case errors.As(err, &ce) && ce.Remote && ce.Code == wsio.StatusNormalClosure:
		s.cleanCloses.Add(1)
	case errors.Is(err, wsio.ErrKeepalive):
		s.keepaliveErrs.Add(1)
		s.noteErr(fmt.Errorf("connection from %v: %w", c.RemoteAddr(), err))
	default:
		s.otherErrs.Add(1)
		s.noteErr(fmt.Errorf("connection from %v: %w", c.RemoteAddr(), err))
	}
}

// flipFirst flips the lowest bit of the first byte written through it
// (without touching the caller's slice, which io.Writer forbids).
type flipFirst struct {
	w    io.Writer
	done bool
}

// Write passes p on, the first byte of the stream altered.
func (f *flipFirst) Write(p []byte) (int, error) {
	if f.done || len(p) == 0 {
		return f.w.Write(p)
	}
	f.done = true
	if _, err := f.w.Write([]byte{p[0] ^ 1}); err != nil {
		return 0, err
	}
	n, err := f.w.Write(p[1:])
	return n + 1, err
}
