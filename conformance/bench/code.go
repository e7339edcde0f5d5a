package main

// The code benchmark: each server's own code per message, without the
// kernel. The bench process runs a library's echo server itself (the very
// lib.serve or lib.handler under an http.Server that the echo benchmark's
// server process runs) over codeListener, whose one connection, a
// codeConn, hands the server a client's upgrade request and then the same
// masked binary frame over and over, and counts and discards what the
// server writes. No system call, socket or other process takes part, so
// what a message costs here is the library's protocol code (and its
// allocations) alone.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsio/wsio/conformance/internal/proc"
	"github.com/wsio/wsio/internal/wstest"
)

const (
	// codeWarm is the number of echoes each connection makes before the
	// timed part, so buffers, pools and the connection's state are set up.
	codeWarm = 1000
	// codeFirstN is the first message count tried; codeMaxN bounds the
	// count (see codeMeasure).
	codeFirstN = 100
	codeMaxN   = 100_000_000
	// codeTimeout bounds one run past its expected length: a server that
	// stops answering fails the measurement instead of hanging the bench.
	codeTimeout = 30 * time.Second
)

// codeResult is what one timed run measured.
type codeResult struct {
	n       int64         // echoes in the timed part
	elapsed time.Duration // wall time from the end of echo codeWarm to the end of echo codeWarm+n
	cpuNs   int64         // the process's CPU time over the same span
	bytes   uint64        // bytes allocated by the process over it (MemStats.TotalAlloc)
	mallocs uint64        // heap objects allocated over it (MemStats.Mallocs)
}

// codeRow names the row of payload size.
func codeRow(size int) string { return fmtSize(int64(size)) }

func (r *runner) code() error {
	cfg := r.cfg
	cols := r.withHTTP()
	rounds := fmt.Sprintf("median of %d round", cfg.rounds)
	if cfg.rounds != 1 {
		rounds += "s"
	}
	wall := r.report.table("code", "Code: wall time per echoed message, ns, the server's code alone over an in-memory connection, "+rounds+" (lower is better)", "ns", false)
	cpu := r.report.table("code", "Code: the process's CPU time per echoed message, ns, "+rounds+" (lower is better)", "ns", false)
	alloc := r.report.table("code", "Code: bytes allocated per echoed message, whole process, "+rounds+" (lower is better)", "B", false)
	mallocs := r.report.table("code", "Code: heap allocations per echoed message, whole process, "+rounds+" (lower is better)", "", false)
	for _, t := range []*table{wall, cpu, alloc, mallocs} {
		t.cols = cols
		for _, size := range cfg.codeSizes {
			t.addRow(codeRow(size))
		}
	}
	// The times compare each wsio shape with the better of gorilla and
	// coder; the allocation figures are counts near zero (a library that
	// allocates nothing per message shows the odd allocation elsewhere in
	// the process), whose ratios would say nothing.
	wall.bestOf, cpu.bestOf = latencyBestOf, latencyBestOf
	alloc.noRatios, mallocs.noRatios = true, true
	wall.byRound = true
	wall.note = codeNote(cfg, rounds)
	cpu.note = "User + system CPU time (getrusage) of the whole bench process over the timed part, divided by the messages: " +
		"the wall time above plus what the garbage collector's background workers spent on other CPUs meanwhile. " +
		"best is the lower of gorilla's and coder's; x/best below 1 means less than the best."
	alloc.note = "runtime.MemStats.TotalAlloc over the timed part (process-wide, as everything in the process serves this " +
		"one connection), divided by the messages; a library that allocates nothing per message shows the odd " +
		"allocation made elsewhere in the process. Raw TCP's server allocates the net.Buffers of its header and " +
		"payload write (lib_raw.go), the bench's own code."
	mallocs.note = "runtime.MemStats.Mallocs over the timed part, divided by the messages."
	for round := 1; round <= cfg.rounds; round++ {
		for _, size := range cfg.codeSizes {
			row := codeRow(size)
			for _, name := range rotated(cols, round) {
				if err := r.ctx.Err(); err != nil {
					return err
				}
				res, err := codeMeasure(anyLib(name), size, cfg.codeDur)
				if err != nil {
					r.fail("code "+row, name, err)
					continue
				}
				n := float64(res.n)
				wall.addRound(row, name, round, float64(res.elapsed.Nanoseconds())/n)
				cpu.add(row, name, float64(res.cpuNs)/n)
				alloc.add(row, name, float64(res.bytes)/n)
				mallocs.add(row, name, float64(res.mallocs)/n)
				r.progress("code %s %s round %d: %.0f ns/msg, %.0f ns CPU/msg, %.1f B/msg, %.2f allocs/msg (%d messages)",
					row, name, round, float64(res.elapsed.Nanoseconds())/n, float64(res.cpuNs)/n,
					float64(res.bytes)/n, float64(res.mallocs)/n, res.n)
			}
		}
	}
	for _, t := range []*table{wall, cpu, alloc, mallocs} {
		r.printTable(t)
	}
	return nil
}

// codeNote is the note under the code benchmark's first table; rounds
// says how many rounds the medians rest on.
func codeNote(cfg *config, rounds string) string {
	return fmt.Sprintf("Each library's echo server (the same serve function or http.Handler under an http.Server that "+
		"the echo and latency benchmarks' server processes run) runs inside the bench process on a listener whose one "+
		"connection is an in-memory net.Conn: it hands the server a client's upgrade request, then, once the server "+
		"has written its 101 response, the same masked binary frame of the row's payload size over and over, at most "+
		"one frame per Read and never blocking, as a socket would where each message arrives whole; its Write counts "+
		"the bytes and discards them; deadlines only matter while the server has not answered the upgrade yet "+
		"(net/http aborts its background read with one). The raw column is raw TCP's server with its length-prefixed "+
		"messages over the same connection. Time per message: the wall time from the moment the server has written "+
		"its %d-th reply to the moment it has written the %d+N-th, divided by N, where N grows run by run as "+
		"testing.Benchmark's does until the timed part lasts at least %v (each run a fresh server and connection). "+
		"No system call, socket or wake-up takes part, so this is each library's protocol code per message: "+
		"read a frame, unmask, hand the message to the handler, read it whole, frame and write the echo. "+
		"The connection is no *net.TCPConn, so libraries with a socket path take their generic one: wsio's own "+
		"socket layer (internal/sock's reads and writes) and its event server's parking of quiet connections in "+
		"epoll are not exercised (wsio-events serves the connection with a goroutine of its own), and gws skips "+
		"its TCP_NODELAY call; the other libraries read and write through net.Conn alone. "+
		"best is the lower of %s in each line, and x/best divides each wsio server shape's figure by it. "+
		"These tables hold the %s; each round measures every library once, in an order rotated "+
		"by one from round to round.", codeWarm, codeWarm, cfg.codeDur, strings.Join(latencyBestOf, " and "), rounds)
}

// codeMeasure measures lib's echo of size-byte messages: runs with a
// growing message count, as testing.Benchmark grows b.N, until one lasts
// at least dur; it returns that run's figures.
func codeMeasure(lib *library, size int, dur time.Duration) (codeResult, error) {
	if lib == nil {
		return codeResult{}, errors.New("no such library")
	}
	n := int64(codeFirstN)
	for {
		res, err := codeOnce(lib, size, n)
		if err != nil {
			return res, err
		}
		if res.elapsed >= dur || n >= codeMaxN {
			return res, nil
		}
		// Aim 20% past dur from this run's rate; grow at least by one
		// message and at most a hundredfold.
		per := float64(max(res.elapsed, 1)) / float64(n)
		next := int64(1.2 * float64(dur) / per)
		n = min(max(next, n+1), 100*n, codeMaxN)
	}
}

// codeOnce runs lib's echo server over a fresh codeConn until it has
// echoed codeWarm+n messages of size bytes and tears it all down: the
// connection ends (reads return io.EOF), the server closes it, the
// listener (or http.Server) is closed and the serving goroutine returns.
func codeOnce(lib *library, size int, n int64) (codeResult, error) {
	raw := lib == rawLib
	c := newCodeConn(raw, size, codeWarm, n)
	ln := &codeListener{conn: c, closed: make(chan struct{})}
	st := &serverState{mode: "echo", lib: lib}
	served := make(chan struct{})
	var stop func()
	// Start each run from a collected heap, so one library's garbage is
	// not collected in the next one's timed part.
	runtime.GC()
	if lib.serve != nil {
		go func() { defer close(served); _ = lib.serve(ln, st) }()
		stop = func() { _ = ln.Close() }
	} else {
		hs := &http.Server{
			Handler:           lib.handler(st),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          log.New(io.Discard, "", 0),
		}
		go func() { defer close(served); _ = hs.Serve(ln) }()
		stop = func() { _ = hs.Close() }
	}
	var err error
	timer := time.NewTimer(codeTimeout)
	select {
	case <-c.done:
	case <-c.failed:
	case <-timer.C:
		err = fmt.Errorf("no %d echoes within %v (%d reply bytes written)", codeWarm+n, codeTimeout, c.written.Load())
	}
	timer.Stop()
	if err == nil {
		err = c.err()
	}
	// The round is over: reads return io.EOF, on which every server ends
	// the connection. One that does not within a few seconds is cut off.
	select {
	case <-c.closed:
	case <-time.After(5 * time.Second):
		if err == nil {
			err = errors.New("the server did not close the connection after reading io.EOF")
		}
		_ = c.Close()
	}
	stop()
	select {
	case <-served:
	case <-time.After(10 * time.Second):
		if err == nil {
			err = errors.New("the server did not return after its listener was closed")
		}
	}
	if err != nil {
		return codeResult{}, err
	}
	return codeResult{
		n:       n,
		elapsed: c.t1.Sub(c.t0),
		cpuNs:   c.cpu1 - c.cpu0,
		bytes:   c.m1.TotalAlloc - c.m0.TotalAlloc,
		mallocs: c.m1.Mallocs - c.m0.Mallocs,
	}, nil
}

// codeListener hands out its one connection, then blocks until closed.
type codeListener struct {
	conn      *codeConn
	handed    atomic.Bool
	closed    chan struct{}
	closeOnce sync.Once
}

func (l *codeListener) Accept() (net.Conn, error) {
	if !l.handed.Swap(true) {
		return l.conn, nil
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *codeListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

func (l *codeListener) Addr() net.Addr { return codeServerAddr }

var (
	codeServerAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	codeClientAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 10), Port: 40000}
)

// codeConn is the server's end of an in-memory connection from a client
// that opens the WebSocket (raw: receives raw TCP's 1-byte greeting) and
// then sends the same message again and again, each as soon as the
// previous one has arrived. It is driven by one reading goroutine at a
// time (net/http's background read ends before the handler reads) and
// one writing goroutine at a time (every library serialises its writes),
// so its per-message paths take no lock.
//
// Reads: first the upgrade request (raw: nothing); then, once the
// server's handshake reply is written (its 101 head; raw: the greeting
// byte), frame after frame, at most one per Read; io.EOF once the round
// is over, net.ErrClosed once closed. Before the handshake reply a Read
// past the request waits for it, as a socket would, or for a read
// deadline to pass (net/http's abortPendingRead relies on it); after it
// Read never blocks and deadlines are ignored.
//
// Writes: the handshake reply is checked and set apart; then the bytes
// are counted and discarded, except that the first reply is compared with
// the expected echo. The writes that complete reply warm and reply
// warm+n take the start and end readings (wall clock, CPU time, MemStats).
type codeConn struct {
	req     []byte // the client's upgrade request; nil for raw
	frame   []byte // one client message as sent
	want    []byte // the server's echo of it as written
	raw     bool
	startAt int64 // reply bytes written when the timed part starts
	endAt   int64 // reply bytes written when it ends

	// Read side.
	reqOff int // bytes of req handed out
	off    int // bytes of the current frame handed out

	// Handshake: guarded by mu until hsDone is set.
	mu     sync.Mutex
	rdl    time.Time     // the read deadline
	wake   chan struct{} // a deadline changed (capacity 1)
	head   []byte        // the handshake reply as written so far
	hsDone atomic.Bool
	hsCh   chan struct{} // closed with hsDone set

	written atomic.Int64  // reply bytes written after the handshake reply
	first   []byte        // the first reply as written
	over    atomic.Bool   // the round is over: reads return io.EOF
	done    chan struct{} // closed when reply warm+n is complete

	// The readings, written before done is closed.
	t0, t1     time.Time
	cpu0, cpu1 int64
	m0, m1     runtime.MemStats

	failOnce sync.Once
	failErr  error
	failed   chan struct{} // closed with failErr set

	isClosed  atomic.Bool
	closeOnce sync.Once
	closed    chan struct{}
}

// newCodeConn returns the connection of a client sending warm+n messages
// of size bytes (and more, until the server has echoed those).
func newCodeConn(raw bool, size int, warm, n int64) *codeConn {
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(i*7 + 3)
	}
	c := &codeConn{
		raw:    raw,
		wake:   make(chan struct{}, 1),
		hsCh:   make(chan struct{}),
		done:   make(chan struct{}),
		failed: make(chan struct{}),
		closed: make(chan struct{}),
	}
	if raw {
		var hdr [8]byte
		binary.BigEndian.PutUint64(hdr[:], uint64(size))
		c.frame = append(hdr[:], payload...)
		c.want = c.frame
	} else {
		c.req = floorRequest
		c.frame = wstest.Frame(true, 0, 0x2, payload, &[4]byte{0x37, 0xfa, 0x21, 0x3d})
		c.want = wstest.Frame(true, 0, 0x2, payload, nil)
	}
	c.startAt = warm * int64(len(c.want))
	c.endAt = (warm + n) * int64(len(c.want))
	return c
}

// fail records err as the measurement's failure and ends the round, so
// that the server reads io.EOF next and closes the connection.
func (c *codeConn) fail(err error) {
	c.failOnce.Do(func() {
		c.failErr = err
		c.over.Store(true)
		close(c.failed)
	})
}

// err returns the failure recorded, if any.
func (c *codeConn) err() error {
	select {
	case <-c.failed:
		return c.failErr
	default:
		return nil
	}
}

func (c *codeConn) Read(p []byte) (int, error) {
	if !c.hsDone.Load() {
		if n, ok, err := c.readHandshake(p); ok {
			return n, err
		}
	}
	if c.over.Load() {
		if c.isClosed.Load() {
			return 0, net.ErrClosed
		}
		return 0, io.EOF
	}
	n := copy(p, c.frame[c.off:])
	c.off += n
	if c.off == len(c.frame) {
		c.off = 0
	}
	return n, nil
}

// readHandshake is Read before the handshake reply is written: it hands
// out the request, then waits for the reply (ok false: read the frames),
// for the read deadline to pass or for Close.
func (c *codeConn) readHandshake(p []byte) (n int, ok bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reqOff < len(c.req) {
		n = copy(p, c.req[c.reqOff:])
		c.reqOff += n
		return n, true, nil
	}
	for {
		switch {
		case c.isClosed.Load():
			return 0, true, net.ErrClosed
		case c.hsDone.Load():
			return 0, false, nil
		case !c.rdl.IsZero() && !time.Now().Before(c.rdl):
			return 0, true, os.ErrDeadlineExceeded
		}
		var expire <-chan time.Time
		var t *time.Timer
		if !c.rdl.IsZero() {
			t = time.NewTimer(time.Until(c.rdl))
			expire = t.C
		}
		c.mu.Unlock()
		select {
		case <-c.hsCh:
		case <-c.closed:
		case <-c.wake:
		case <-expire:
		}
		if t != nil {
			t.Stop()
		}
		c.mu.Lock()
	}
}

func (c *codeConn) Write(p []byte) (int, error) {
	if c.isClosed.Load() {
		return 0, net.ErrClosed
	}
	n := len(p)
	if !c.hsDone.Load() {
		c.mu.Lock()
		rest, err := c.writeHandshake(p)
		c.mu.Unlock()
		if err != nil {
			c.fail(err)
			return 0, err
		}
		p = rest
	}
	if len(p) > 0 {
		c.count(p)
	}
	return n, nil
}

// writeHandshake adds p to the handshake reply and returns what follows
// the reply in p, if it is complete, checking that it is a 101 (raw: the
// greeting byte).
func (c *codeConn) writeHandshake(p []byte) ([]byte, error) {
	if c.raw {
		if len(p) == 0 {
			return nil, nil
		}
		c.handshakeDone()
		return p[1:], nil
	}
	// The empty line may straddle two writes, so search what is held
	// before p too.
	from := max(len(c.head)-3, 0)
	c.head = append(c.head, p...)
	i := bytes.Index(c.head[from:], []byte("\r\n\r\n"))
	if i < 0 {
		if len(c.head) > 16<<10 {
			return nil, fmt.Errorf("handshake reply longer than 16 KiB: %.200q", c.head)
		}
		return nil, nil
	}
	end := from + i + 4
	if !bytes.HasPrefix(c.head, []byte("HTTP/1.1 101 ")) {
		return nil, fmt.Errorf("the server refused the upgrade: %.300q", c.head[:end])
	}
	rest := p[len(p)-(len(c.head)-end):]
	c.handshakeDone()
	return rest, nil
}

// handshakeDone lets the reads go on to the frames; mu is held.
func (c *codeConn) handshakeDone() {
	c.hsDone.Store(true)
	close(c.hsCh)
}

// count counts p, written after the handshake reply: it checks the first
// reply and takes the readings at the start and end of the timed part.
func (c *codeConn) count(p []byte) {
	after := c.written.Add(int64(len(p)))
	before := after - int64(len(p))
	if w := int64(len(c.want)); before < w {
		c.first = append(c.first, p[:min(int64(len(p)), w-before)]...)
		if after >= w && !bytes.Equal(c.first, c.want) {
			c.fail(fmt.Errorf("the first echo is % x, want % x", c.first, c.want))
		}
	}
	if before < c.startAt && after >= c.startAt {
		runtime.ReadMemStats(&c.m0)
		c.cpu0 = proc.CPUTime()
		c.t0 = time.Now()
	}
	if before < c.endAt && after >= c.endAt {
		c.t1 = time.Now()
		c.cpu1 = proc.CPUTime()
		runtime.ReadMemStats(&c.m1)
		c.over.Store(true)
		close(c.done)
	}
}

// Close ends the connection; a server that closes it before the round is
// over fails the measurement.
func (c *codeConn) Close() error {
	c.closeOnce.Do(func() {
		if !c.over.Load() {
			c.fail(fmt.Errorf("the server closed the connection after %d reply bytes (want %d)", c.written.Load(), c.endAt))
		}
		c.isClosed.Store(true)
		c.over.Store(true)
		close(c.closed)
	})
	return nil
}

func (c *codeConn) LocalAddr() net.Addr  { return codeServerAddr }
func (c *codeConn) RemoteAddr() net.Addr { return codeClientAddr }

func (c *codeConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *codeConn) SetReadDeadline(t time.Time) error {
	if c.hsDone.Load() {
		return nil
	}
	c.mu.Lock()
	c.rdl = t
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}

func (c *codeConn) SetWriteDeadline(time.Time) error { return nil }
