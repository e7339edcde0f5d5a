package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/conformance/internal/proc"
)

// Client source addresses: dials are spread over 127.0.0.10–127.0.0.25.
// With IP_BIND_ADDRESS_NO_PORT the kernel picks the local port at connect
// time, so only the whole 4-tuple has to be unique and 18,000 connections
// stay far from ephemeral port exhaustion.
const (
	firstSource = 10
	numSources  = 16
)

// srcSeq numbers the dials, to cycle through the source addresses.
var srcSeq atomic.Uint32

// dialTCP is the client's DialOptions.NetDial: a TCP dial from the next
// 127.0.0.x source address.
func dialTCP(ctx context.Context, network, addr string) (net.Conn, error) {
	i := srcSeq.Add(1)
	d := &net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(firstSource+i%numSources))},
		Control:   proc.BindNoPort,
	}
	return d.DialContext(ctx, network, addr)
}

// Size classes: class i holds sizes in [2^i, 2^(i+1)); the last class
// (1 MiB and up) is folded into the one before.
const numClasses = 20

// sizeClass returns the histogram class of a message size.
func sizeClass(n int) int { return min(bits.Len(uint(n))-1, numClasses-1) }

// msgSize draws message k's size, from its own generator so that a run
// is reproducible message by message from -seed: log-uniform (the
// logarithm of the size is uniform between log min and log(max+1), then
// rounded down) or uniform.
func msgSize(cfg *config, k int64) int {
	r := rand.New(rand.NewPCG(cfg.seed^0x736f616b, uint64(k)))
	lo, hi := cfg.minSize, cfg.maxSize
	if cfg.dist == "uniform" {
		return lo + r.IntN(hi-lo+1)
	}
	x := math.Exp(math.Log(float64(lo)) + r.Float64()*(math.Log(float64(hi)+1)-math.Log(float64(lo))))
	return min(max(int(x), lo), hi)
}

// msgSeed is the ChaCha8 seed of message k's payload.
func msgSeed(cfg *config, k int64) [32]byte {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[0:], cfg.seed)
	binary.LittleEndian.PutUint64(s[8:], uint64(k))
	copy(s[16:], "wsio-soak-msg")
	return s
}

// echoResult is what a connection's reader got back for one message.
type echoResult struct {
	n   int64
	sum [sha256.Size]byte
	err error
	at  time.Time
}

// cconn is one client connection.
type cconn struct {
	id         int
	c          *wsio.Conn
	busy       atomic.Bool     // a worker has a message in flight on it
	poisoned   atomic.Bool     // an echo went missing: a late one would be mistaken for the next
	echo       chan echoResult // the reader's results, one at a time
	readerDone chan struct{}   // closed when the reader's Next failed
	readErr    error           // why, set before readerDone closes
	unexpected *atomic.Int64   // echoes nobody waited for, text messages
	closing    *atomic.Bool    // the client is closing everything: errors are expected
	dropped    func(*cconn)    // called when the connection ends before closing
}

// read is the connection's one reader: it runs Next for the whole life of
// the connection (which keepalive needs, to see pongs) and hashes each
// echo as it streams in.
func (cc *cconn) read() {
	for {
		m, err := cc.c.Next(context.Background())
		if err != nil {
			cc.readErr = err
			close(cc.readerDone)
			if !cc.closing.Load() {
				cc.dropped(cc)
			}
			return
		}
		if m.Kind != wsio.Binary {
			cc.unexpected.Add(1)
			continue
		}
		h := sha256.New()
		n, err := io.Copy(h, m)
		r := echoResult{n: n, err: err, at: time.Now()}
		h.Sum(r.sum[:0])
		select {
		case cc.echo <- r:
		default:
			cc.unexpected.Add(1)
		}
	}
}

// failure describes one lost or corrupted message for the report.
type failure struct {
	Msg    int64  `json:"msg"`
	Conn   int    `json:"conn"`
	Size   int    `json:"size"`
	Kind   string `json:"kind"` // lost or corrupted
	Detail string `json:"detail"`
}

// msgCounts are the message phase's running totals.
type msgCounts struct {
	Done      int64   `json:"done"`
	OK        int64   `json:"ok"`
	Lost      int64   `json:"lost"`
	Corrupted int64   `json:"corrupted"`
	Bytes     int64   `json:"bytes"` // payload bytes sent (= echoed back when all is well)
	Secs      float64 `json:"secs"`
}

// connectedReport is the client's CONNECTED line.
type connectedReport struct {
	Baseline    proc.Stats `json:"baseline"` // before the first dial, after GC
	Stats       proc.Stats `json:"stats"`    // with every connection open, after GC
	Established int        `json:"established"`
	Failed      int        `json:"failed"`
	Secs        float64    `json:"secs"`
	Errors      []string   `json:"errors,omitempty"`
}

// heldReport is the client's HELD line, at the end of the hold.
type heldReport struct {
	Stats          proc.Stats `json:"stats"`
	Counts         msgCounts  `json:"counts"`
	MsgSecs        float64    `json:"msg_secs"`  // first message sent → last echo checked
	HoldSecs       float64    `json:"hold_secs"` // GO → the end-of-hold check
	Classes        []int64    `json:"classes"`   // messages per size class
	RTTms          []float64  `json:"rtt_ms"`    // echo round trip: p50, p90, p99, max
	Open           int        `json:"open"`
	Dropped        int64      `json:"dropped"` // connections that ended during the hold
	KeepaliveDrops int64      `json:"keepalive_drops"`
	Poisoned       int        `json:"poisoned"`
	Unexpected     int64      `json:"unexpected"`
	PingsIn        int64      `json:"pings_in"`
	PongsIn        int64      `json:"pongs_in"`
	Failures       []failure  `json:"failures,omitempty"`
	Errors         []string   `json:"errors,omitempty"`
}

// closedReport is the client's CLOSED line.
type closedReport struct {
	Stats          proc.Stats `json:"stats"` // after the readers ended and the grace period, after GC
	CloseOK        int        `json:"close_ok"`
	CloseErrs      int        `json:"close_errs"`
	ReadersLeft    int        `json:"readers_left"`
	BadEnds        int        `json:"bad_ends"`        // readers that ended otherwise than with the local 1000
	PeakGoroutines int64      `json:"peak_goroutines"` // largest sampled over the client's life, no GC
	PeakHeapInuse  uint64     `json:"peak_heap_inuse"`
	Secs           float64    `json:"secs"`
	Errors         []string   `json:"errors,omitempty"`
}

// soakClient is the client child's state.
type soakClient struct {
	cfg   *config
	start time.Time
	conns []*cconn
	cmds  <-chan string
	peak  peakSampler

	closing                            atomic.Bool
	unexpected, dropped, keepaliveDrop atomic.Int64
	pingsIn, pongsIn                   atomic.Int64

	next    atomic.Int64 // the next message number
	counts  struct{ done, ok, lost, corrupted, bytes atomic.Int64 }
	classes [numClasses]atomic.Int64
	rtt     []float32 // per message, ms; written by the message's worker only

	mu       sync.Mutex
	errors   []string
	failures []failure
}

// clientMain is the client child: dial, report CONNECTED, wait for GO,
// run the messages and the hold, report HELD, wait for CLOSE, close every
// connection with 1000, report CLOSED, exit when stdin closes.
func clientMain(cfg *config) error {
	proc.RaiseNoFile()
	s := &soakClient{cfg: cfg, start: time.Now(), cmds: stdinCommands()}
	s.peak.start(time.Second)
	defer startCPUProfile(cfg.profileDir, "client")()
	if err := s.connect(); err != nil {
		return err
	}
	if err := s.await("GO"); err != nil {
		return err
	}
	s.messages()
	if err := s.await("CLOSE"); err != nil {
		return err
	}
	s.closeAll()
	for range s.cmds { // until stdin closes
	}
	return nil
}

// stdinCommands delivers the parent's command lines; the channel closes
// with stdin.
func stdinCommands() <-chan string {
	ch := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			ch <- sc.Text()
		}
		close(ch)
	}()
	return ch
}

// await waits for the parent's command; stdin closing first means the
// parent gave up on us.
func (s *soakClient) await(cmd string) error {
	for line := range s.cmds {
		if line == cmd {
			return nil
		}
	}
	return fmt.Errorf("stdin closed while waiting for %s", cmd)
}

// noteErr keeps the first few errors, stamped with the time since start.
func (s *soakClient) noteErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errors) < maxErrors {
		s.errors = append(s.errors, fmt.Sprintf("+%s %v", time.Since(s.start).Round(time.Millisecond), err))
	}
}

// takeErrors returns the errors kept so far and forgets them.
func (s *soakClient) takeErrors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.errors
	s.errors = nil
	return e
}

// connect opens the connections, -dial-parallel at a time, each with its
// reader, and reports CONNECTED.
func (s *soakClient) connect() error {
	baseline := proc.Settled()
	cfg := s.cfg
	opts := &wsio.DialOptions{
		Options: wsio.Options{
			KeepaliveInterval: cfg.keepalive,
			KeepaliveTimeout:  cfg.keepaliveTimeout,
			OnPing:            func([]byte) { s.pingsIn.Add(1) },
			OnPong:            func([]byte) { s.pongsIn.Add(1) },
			Compression:       &wsio.Compression{Disabled: true},
		},
		NetDial:          dialTCP,
		Proxy:            wsio.ProxyURL(nil),
		HandshakeTimeout: cfg.dialTimeout,
	}
	url := "ws://" + cfg.addr + "/soak"
	s.conns = make([]*cconn, cfg.conns)
	var (
		next   atomic.Int64
		failed atomic.Int64
		wg     sync.WaitGroup
	)
	t0 := time.Now()
	for range min(cfg.dialParallel, cfg.conns) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.conns {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), cfg.dialTimeout)
				c, _, err := wsio.Dial(ctx, url, opts)
				cancel()
				if err != nil {
					failed.Add(1)
					s.noteErr(fmt.Errorf("dial %d: %w", i, err))
					continue
				}
				cc := &cconn{
					id: i, c: c, echo: make(chan echoResult, 1), readerDone: make(chan struct{}),
					unexpected: &s.unexpected, closing: &s.closing, dropped: s.connDropped,
				}
				s.conns[i] = cc
				go cc.read()
			}
		})
	}
	wg.Wait()
	secs := time.Since(t0).Seconds()
	proc.Emit("CONNECTED", connectedReport{
		Baseline:    baseline,
		Stats:       proc.Settled(),
		Established: cfg.conns - int(failed.Load()),
		Failed:      int(failed.Load()),
		Secs:        secs,
		Errors:      s.takeErrors(),
	})
	return nil
}

// connDropped counts a connection that ended before the client closed it.
func (s *soakClient) connDropped(cc *cconn) {
	s.dropped.Add(1)
	if errors.Is(cc.readErr, wsio.ErrKeepalive) {
		s.keepaliveDrop.Add(1)
	}
	s.noteErr(fmt.Errorf("connection %d (%v) ended: %w", cc.id, cc.c.LocalAddr(), cc.readErr))
}

// fail records a lost or corrupted message, keeping the first few of
// each kind for the report.
func (s *soakClient) fail(f failure) {
	if f.Kind == "lost" {
		s.counts.lost.Add(1)
	} else {
		s.counts.corrupted.Add(1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := 0
	for _, g := range s.failures {
		if g.Kind == f.Kind {
			kept++
		}
	}
	if kept < maxErrors {
		s.failures = append(s.failures, f)
	}
}

// snapshot returns the running totals.
func (s *soakClient) snapshot(t0 time.Time) msgCounts {
	return msgCounts{
		Done:      s.counts.done.Load(),
		OK:        s.counts.ok.Load(),
		Lost:      s.counts.lost.Load(),
		Corrupted: s.counts.corrupted.Load(),
		Bytes:     s.counts.bytes.Load(),
		Secs:      time.Since(t0).Seconds(),
	}
}

// messages runs the message phase and the rest of the hold, then reports
// HELD.
func (s *soakClient) messages() {
	cfg := s.cfg
	t0 := time.Now()
	s.rtt = make([]float32, cfg.messages)
	stopProgress := make(chan struct{})
	go func() {
		t := time.NewTicker(cfg.progress)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				proc.Emit("PROGRESS", s.snapshot(t0))
			case <-stopProgress:
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range cfg.workers {
		wg.Go(func() { s.worker(w) })
	}
	wg.Wait()
	msgSecs := time.Since(t0).Seconds()
	proc.Emit("PROGRESS", s.snapshot(t0))
	// The hold: at least -hold from GO, idle (keepalive only) once the
	// messages are done.
	if left := time.Until(t0.Add(cfg.hold)); left > 0 {
		time.Sleep(left)
	}
	close(stopProgress)
	open, poisoned := 0, 0
	for _, cc := range s.conns {
		if cc == nil {
			continue
		}
		select {
		case <-cc.readerDone:
			continue
		default:
		}
		if cc.c.State() == wsio.Open {
			open++
		}
		if cc.poisoned.Load() {
			poisoned++
		}
	}
	rep := heldReport{
		Counts:         s.snapshot(t0),
		MsgSecs:        msgSecs,
		HoldSecs:       time.Since(t0).Seconds(),
		Open:           open,
		Dropped:        s.dropped.Load(),
		KeepaliveDrops: s.keepaliveDrop.Load(),
		Poisoned:       poisoned,
		Unexpected:     s.unexpected.Load(),
		PingsIn:        s.pingsIn.Load(),
		PongsIn:        s.pongsIn.Load(),
		RTTms:          percentiles(s.rtt, 0.50, 0.90, 0.99, 1),
	}
	for i := range s.classes {
		rep.Classes = append(rep.Classes, s.classes[i].Load())
	}
	s.rtt = nil
	rep.Stats = proc.Settled()
	s.mu.Lock()
	rep.Failures = s.failures
	s.mu.Unlock()
	rep.Errors = s.takeErrors()
	proc.Emit("HELD", rep)
}

// percentiles returns the given quantiles of the positive values of v.
func percentiles(v []float32, qs ...float64) []float64 {
	var xs []float32
	for _, x := range v {
		if x > 0 {
			xs = append(xs, x)
		}
	}
	if len(xs) == 0 {
		return nil
	}
	slices.Sort(xs)
	var out []float64
	for _, q := range qs {
		i := min(int(q*float64(len(xs))), len(xs)-1)
		out = append(out, float64(xs[i]))
	}
	return out
}

// worker sends messages on connections picked at random until the count
// is reached, one message in flight at a time.
func (s *soakClient) worker(w int) {
	rng := rand.New(rand.NewPCG(s.cfg.seed, uint64(w)+1))
	buf := make([]byte, 32<<10)
	for {
		k := s.next.Add(1) - 1
		if k >= int64(s.cfg.messages) {
			return
		}
		size := msgSize(s.cfg, k)
		s.classes[sizeClass(size)].Add(1)
		cc := s.pick(rng)
		if cc == nil {
			s.counts.done.Add(1)
			s.fail(failure{Msg: k, Conn: -1, Size: size, Kind: "lost", Detail: "no usable connection left"})
			continue
		}
		s.one(cc, k, size, buf)
		cc.busy.Store(false)
		s.counts.done.Add(1)
	}
}

// pick returns a random usable connection that no other worker is using,
// marked busy; it waits while all usable ones are busy, and returns nil
// only when none is usable any more (all ended or poisoned).
func (s *soakClient) pick(rng *rand.Rand) *cconn {
	n := len(s.conns)
	for {
		for range 4 * n {
			cc := s.conns[rng.IntN(n)]
			if cc.usable() && cc.busy.CompareAndSwap(false, true) {
				return cc
			}
		}
		usable := false
		for _, cc := range s.conns {
			if cc.usable() {
				usable = true
				if cc.busy.CompareAndSwap(false, true) {
					return cc
				}
			}
		}
		if !usable {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
}

// usable tells whether a connection may carry another message.
func (cc *cconn) usable() bool {
	if cc == nil || cc.poisoned.Load() {
		return false
	}
	select {
	case <-cc.readerDone:
		return false
	default:
		return true
	}
}

// one sends message k (size bytes of ChaCha8 output from its seed) as one
// binary stream through BeginBinary, hashing it as it goes, and checks
// the length and SHA-256 of the echo the reader got back.
func (s *soakClient) one(cc *cconn, k int64, size int, buf []byte) {
	cfg := s.cfg
	lost := func(detail string) {
		s.fail(failure{Msg: k, Conn: cc.id, Size: size, Kind: "lost", Detail: detail})
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.echoTimeout)
	defer cancel()
	t0 := time.Now()
	gen := rand.NewChaCha8(msgSeed(cfg, k))
	h := sha256.New()
	w, err := cc.c.BeginBinary(ctx)
	if err != nil {
		lost("BeginBinary: " + err.Error())
		return
	}
	for left := size; left > 0; {
		p := buf[:min(len(buf), left)]
		_, _ = gen.Read(p)
		h.Write(p)
		if _, err := w.Write(p); err != nil {
			_ = w.Close()
			cc.poisoned.Store(true)
			lost("write: " + err.Error())
			return
		}
		left -= len(p)
	}
	if err := w.Close(); err != nil {
		cc.poisoned.Store(true)
		lost("close of the stream: " + err.Error())
		return
	}
	var want [sha256.Size]byte
	h.Sum(want[:0])
	s.counts.bytes.Add(int64(size))
	select {
	case r := <-cc.echo:
		switch {
		case r.err != nil:
			lost(fmt.Sprintf("echo cut short after %d bytes: %v", r.n, r.err))
		case r.n != int64(size):
			s.fail(failure{Msg: k, Conn: cc.id, Size: size, Kind: "corrupted", Detail: fmt.Sprintf("echo of %d bytes", r.n)})
		case r.sum != want:
			s.fail(failure{Msg: k, Conn: cc.id, Size: size, Kind: "corrupted", Detail: fmt.Sprintf("SHA-256 %x, want %x", r.sum[:8], want[:8])})
		default:
			s.counts.ok.Add(1)
			s.rtt[k] = float32(r.at.Sub(t0).Seconds() * 1e3)
		}
	case <-cc.readerDone:
		lost("connection ended: " + cc.readErr.Error())
	case <-ctx.Done():
		cc.poisoned.Store(true) // a late echo must not be taken for the next message's
		lost(fmt.Sprintf("no echo within %v", cfg.echoTimeout))
	}
}

// closeAll closes every connection with 1000, -close-parallel at a time,
// waits for the readers to end, lets things settle and reports CLOSED.
func (s *soakClient) closeAll() {
	s.closing.Store(true)
	t0 := time.Now()
	var (
		next        atomic.Int64
		ok, failed  atomic.Int64
		wg          sync.WaitGroup
		readersLeft int
		badEnds     int
	)
	for range s.cfg.closeParallel {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(s.conns) {
					return
				}
				cc := s.conns[i]
				if cc == nil {
					continue
				}
				if err := cc.c.Close(wsio.StatusNormalClosure, "soak done"); err != nil {
					failed.Add(1)
					s.noteErr(fmt.Errorf("Close of connection %d: %w", i, err))
				} else {
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	deadline := time.After(30 * time.Second)
wait:
	for _, cc := range s.conns {
		if cc == nil {
			continue
		}
		select {
		case <-cc.readerDone:
		case <-deadline:
			break wait
		}
	}
	for _, cc := range s.conns {
		if cc == nil {
			continue
		}
		select {
		case <-cc.readerDone:
			var ce *wsio.CloseError
			if !errors.As(cc.readErr, &ce) || ce.Remote || ce.Code != wsio.StatusNormalClosure {
				badEnds++
				s.noteErr(fmt.Errorf("connection %d's reader ended with %w, want a local close 1000", cc.id, cc.readErr))
			}
		default:
			readersLeft++
		}
	}
	secs := time.Since(t0).Seconds()
	s.conns = nil
	time.Sleep(time.Second) // let the last goroutines finish
	proc.Emit("CLOSED", closedReport{
		Stats:          proc.Settled(),
		CloseOK:        int(ok.Load()),
		CloseErrs:      int(failed.Load()),
		ReadersLeft:    readersLeft,
		BadEnds:        badEnds,
		PeakGoroutines: s.peak.goroutines.Load(),
		PeakHeapInuse:  s.peak.heap.Load(),
		Secs:           secs,
		Errors:         s.takeErrors(),
	})
}
