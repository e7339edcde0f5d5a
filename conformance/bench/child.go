package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsio/wsio/conformance/internal/proc"
)

// The bench binary re-executes itself with childEnv=1 and a hidden
// subcommand (serve or client), so that client and server run in separate
// processes whose memory can be measured apart. Children talk to the
// parent in lines on stdout (LISTEN, STATS, READY, RESULT, ERROR) and
// take commands on stdin (STATS); stdin closing tells them to exit.
const childEnv = "WSIO_BENCH_CHILD"

func childMain(args []string) int {
	if len(args) == 0 {
		proc.EmitError(errors.New("child: no subcommand"))
		return 2
	}
	startProfile(args)
	defer stopProfile()
	var err error
	switch args[0] {
	case "serve":
		err = childServe(args[1:])
	case "client":
		err = childClient(args[1:])
	case "spin":
		childSpin()
	default:
		err = fmt.Errorf("unknown child subcommand %q", args[0])
	}
	if err != nil {
		proc.EmitError(err)
		return 1
	}
	return 0
}

// With WSIO_BENCH_PROFILE=dir, every child writes a CPU profile of its
// life to dir/<lib>-<role>-<mode>-cpu.pprof, and the server a heap profile
// at each STATS request (…-heap.pprof, the last one kept), for
// `go tool pprof`.
const profileEnv = "WSIO_BENCH_PROFILE"

var (
	profileBase    string
	stopCPUProfile = func() {}
)

func startProfile(args []string) {
	dir := os.Getenv(profileEnv)
	if dir == "" {
		return
	}
	lib, mode := "x", "echo"
	for i := 1; i+1 < len(args); i++ {
		switch args[i] {
		case "-lib":
			lib = args[i+1]
		case "-mode":
			mode = args[i+1]
		}
	}
	profileBase = filepath.Join(dir, fmt.Sprintf("%s-%s-%s", lib, args[0], mode))
	stopCPUProfile = proc.StartCPUProfile(profileBase + "-cpu.pprof")
}

func stopProfile() { stopCPUProfile() }

func writeHeapProfile() {
	if profileBase != "" {
		proc.WriteHeapProfile(profileBase + "-heap.pprof")
	}
}

// exit ends a child process from deep inside (the server and the idle
// client run until their stdin closes).
func exit(code int) {
	stopProfile()
	os.Exit(code)
}

func oneLine(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '\n' || c == '\r' {
			b[i] = ' '
		}
	}
	return string(b)
}

// parseChild parses the flags of a child subcommand (fs, to which it
// adds -lib and -cpu), finds the library -lib names, pins the process to
// the CPU -cpu names and raises the open-file limit.
func parseChild(fs *flag.FlagSet, args []string) (*library, error) {
	libName := fs.String("lib", "", "library")
	cpu := fs.Int("cpu", -1, "run every thread of this process on this CPU only (Linux)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	lib := anyLib(*libName)
	if lib == nil {
		return nil, fmt.Errorf("unknown library %q", *libName)
	}
	if *cpu >= 0 {
		if err := pinToCPU(*cpu); err != nil {
			return nil, fmt.Errorf("pinning to CPU %d: %w", *cpu, err)
		}
	}
	proc.RaiseNoFile()
	return lib, nil
}

func childServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	mode := fs.String("mode", "echo", "echo, bulk, relay or tcprelay")
	file := fs.String("file", "", "bulk: file to stream to the client")
	size := fs.Int64("size", 0, "bulk: size of the file")
	verify := fs.Bool("verify", false, "bulk: CRC-32 uploads")
	sink := fs.String("sink", "", "relay: the sink's address")
	gcOff := fs.Bool("gcoff", false, "run with the garbage collector off (GOGC=off)")
	lib, err := parseChild(fs, args)
	if err != nil {
		return err
	}
	if *gcOff {
		debug.SetGCPercent(-1)
	}
	st := &serverState{mode: *mode, file: *file, size: *size, verify: *verify, sink: *sink, lib: lib}
	if *mode == "relay" {
		gwsMaxPayload = gwsMax(*size)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	switch {
	case *mode == tcpRelayMode:
		go serveTCPRelay(ln, *sink)
	case lib.serve != nil:
		go lib.serve(ln, st)
	default:
		hs := &http.Server{
			Handler:           lib.handler(st),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          log.New(io.Discard, "", 0),
		}
		if lib.tls != nil {
			lib.tls(hs)
			go hs.ServeTLS(ln, "", "")
		} else {
			go hs.Serve(ln)
		}
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "STATS":
			proc.Emit("STATS", proc.Settled())
			writeHeapProfile()
		case "CPU":
			proc.Emit("CPU", cpuReport{CPUNs: proc.CPUTime()})
		}
	}
	exit(0) // stdin closed: the parent is done with us
	return nil
}

type cpuReport struct {
	CPUNs int64 `json:"cpu_ns"`
}

// stdinLines is the client's stdin, read line by line (GO, then EOF).
var stdinLines = bufio.NewScanner(os.Stdin)

// warm tells the parent the client is set up and waits for its GO, so the
// parent can read the server's CPU clock at the start of the timed part.
// It returns this process's CPU clock at the start.
func warm() (int64, error) {
	fmt.Println("WARM")
	if !stdinLines.Scan() || stdinLines.Text() != "GO" {
		return 0, errors.New("no GO from the parent")
	}
	return proc.CPUTime(), nil
}

type clientResult struct {
	CPUNs   int64   `json:"cpu_ns,omitempty"`
	Ops     int64   `json:"ops,omitempty"`
	Secs    float64 `json:"secs,omitempty"`
	UpMBps  float64 `json:"up_mbps,omitempty"`
	DownMBs float64 `json:"down_mbps,omitempty"`
	HWMKiB  int64   `json:"hwm_kib,omitempty"`
	// Base is, for idle clients, the process's figures before the dials.
	Base *proc.Stats `json:"base,omitempty"`
}

func childClient(args []string) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	mode := fs.String("mode", "echo", "echo, bulk, idle or handshake")
	addr := fs.String("addr", "", "server address")
	conns := fs.Int("conns", 1, "echo/idle: connections; handshake: parallel dialers")
	size := fs.Int64("size", 16, "echo: payload bytes; bulk: message bytes")
	dur := fs.Duration("dur", 3*time.Second, "echo/handshake: duration")
	file := fs.String("file", "", "bulk: file to upload")
	crc := fs.Uint("crc", 0, "bulk: the file's CRC-32 (with -verify)")
	verify := fs.Bool("verify", false, "bulk: check byte counts and CRC-32 both ways")
	drop := fs.Bool("drop", false, "handshake: end each connection by closing TCP, without a close handshake")
	lib, err := parseChild(fs, args)
	if err != nil {
		return err
	}
	switch *mode {
	case "echo":
		return clientEcho(lib, *addr, *conns, int(*size), *dur)
	case "bulk":
		gwsMaxPayload = gwsMax(*size)
		return clientBulk(lib, *addr, *file, *size, uint32(*crc), *verify)
	case "idle":
		return clientIdle(lib, *addr, *conns, func(int) []byte { return idlePayload })
	case "decho":
		return clientDeflateEcho(lib, *addr, *conns, *dur)
	case "didle":
		return clientIdle(lib, *addr, *conns, func(i int) []byte { return jsonMsgs[i%len(jsonMsgs)] })
	case "handshake":
		return clientHandshake(lib, *addr, *conns, *dur, *drop)
	}
	return fmt.Errorf("unknown client mode %q", *mode)
}

func dialOne(lib *library, addr string) (cliConn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return lib.dial(ctx, addr)
}

func clientEcho(lib *library, addr string, nconns, size int, dur time.Duration) error {
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(i)
	}
	conns, err := dialEcho(lib, addr, nconns, func(int, int) []byte { return payload })
	if err != nil {
		return err
	}
	return timedEcho(conns, dur, func(i int, stop *atomic.Bool) (int64, error) {
		return echoLoop(conns[i], payload, stop)
	})
}

// dialEcho dials n connections and warms each up with three round trips,
// msg(i, j) being connection i's j-th message, checking the echoes'
// content.
func dialEcho(lib *library, addr string, n int, msg func(i, j int) []byte) ([]cliConn, error) {
	conns := make([]cliConn, n)
	for i := range conns {
		c, err := dialOne(lib, addr)
		if err != nil {
			return nil, fmt.Errorf("dial %d: %w", i, err)
		}
		conns[i] = c
		bp := msgPool.Get().(*[]byte)
		for j := range 3 {
			p := msg(i, j)
			if err := roundTrip(c, p, bp); err != nil {
				return nil, fmt.Errorf("warm-up: %w", err)
			}
			if !bytes.Equal(*bp, p) {
				return nil, errors.New("warm-up: the echo differs from the message sent")
			}
		}
		msgPool.Put(bp)
	}
	return conns, nil
}

// timed tells the parent the client is set up (see warm), runs work on n
// goroutines, work(i, stop) looping until stop is set, sets stop after
// dur, and returns the seconds the run took and this process's CPU time
// over it, in ns.
func timed(n int, dur time.Duration, work func(i int, stop *atomic.Bool)) (secs float64, cpuNs int64, err error) {
	var (
		stop atomic.Bool
		wg   sync.WaitGroup
	)
	cpu0, err := warm()
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	for i := range n {
		wg.Go(func() { work(i, &stop) })
	}
	time.Sleep(dur)
	stop.Store(true)
	wg.Wait()
	return time.Since(start).Seconds(), proc.CPUTime() - cpu0, nil
}

// timedEcho is the timed part of an echo client: loop(i, stop) runs round
// trips on conns[i] until stop is set and returns how many it completed
// (see timed). Unless one failed, it closes conns and reports the round
// trips, the seconds and the CPU time in a RESULT line.
func timedEcho(conns []cliConn, dur time.Duration, loop func(i int, stop *atomic.Bool) (int64, error)) error {
	var (
		total atomic.Int64
		first firstError
	)
	secs, cpu, err := timed(len(conns), dur, func(i int, stop *atomic.Bool) {
		n, err := loop(i, stop)
		total.Add(n)
		first.set(err)
	})
	if err != nil {
		return err
	}
	if err := first.get(); err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	for _, c := range conns {
		_ = c.close()
	}
	proc.Emit("RESULT", clientResult{Ops: total.Load(), Secs: secs, CPUNs: cpu})
	return nil
}

// firstError keeps the first non-nil error set, from any goroutine.
type firstError struct {
	mu  sync.Mutex
	err error
}

// set keeps err if it is the first non-nil one.
func (f *firstError) set(err error) {
	if err == nil {
		return
	}
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

// get returns the first error set, or nil.
func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func clientBulk(lib *library, addr, file string, size int64, crc uint32, verify bool) error {
	c, err := dialOne(lib, addr)
	if err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()

	cpu0, err := warm()
	if err != nil {
		return err
	}
	// client → server: one message streamed from the file.
	t0 := time.Now()
	if err := c.stream(f, size); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	r, err := c.next()
	if err != nil {
		return fmt.Errorf("upload reply: %w", err)
	}
	reply, err := readMsg(r, nil)
	if err != nil {
		return fmt.Errorf("upload reply: %w", err)
	}
	up := time.Since(t0)
	if len(reply) != 12 {
		return fmt.Errorf("upload reply: %d bytes", len(reply))
	}
	if got := int64(binary.BigEndian.Uint64(reply)); got != size {
		return fmt.Errorf("upload: server received %d of %d bytes", got, size)
	}
	if sum := binary.BigEndian.Uint32(reply[8:]); verify && sum != crc {
		return fmt.Errorf("upload: server CRC %08x, want %08x", sum, crc)
	}

	// server → client: the server streams the file back as one message.
	t1 := time.Now()
	if err := c.write(bulkGet); err != nil {
		return fmt.Errorf("download request: %w", err)
	}
	r, err = c.next()
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	n, _, sum, err := drain(r, verify)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	down := time.Since(t1)
	if n != size {
		return fmt.Errorf("download: received %d of %d bytes", n, size)
	}
	if verify && sum != crc {
		return fmt.Errorf("download: CRC %08x, want %08x", sum, crc)
	}
	cpu := proc.CPUTime() - cpu0
	_ = c.close()
	_, hwm := proc.RSS()
	proc.Emit("RESULT", clientResult{
		CPUNs:   cpu,
		UpMBps:  float64(size) / up.Seconds() / 1e6,
		DownMBs: float64(size) / down.Seconds() / 1e6,
		HWMKiB:  hwm,
	})
	return nil
}

var idlePayload = []byte("0123456789abcdef")

// clientIdle opens k connections, each echoing payload(i) once, then holds them.
func clientIdle(lib *library, addr string, k int, payload func(i int) []byte) error {
	conns := make([]cliConn, k) // kept reachable: a lost net.Conn is closed by its finalizer
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		first firstError
	)
	base := proc.Settled()
	cpu0 := proc.CPUTime()
	start := time.Now()
	for range 32 {
		wg.Go(func() {
			bp := msgPool.Get().(*[]byte)
			defer msgPool.Put(bp)
			for {
				i := int(next.Add(1)) - 1
				if i >= k {
					return
				}
				c, err := dialOne(lib, addr)
				if err == nil {
					err = roundTrip(c, payload(i), bp)
				}
				if err != nil {
					first.set(fmt.Errorf("connection %d: %w", i, err))
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	if err := first.get(); err != nil {
		return err
	}
	proc.Emit("READY", clientResult{Ops: int64(k), Secs: time.Since(start).Seconds(), CPUNs: proc.CPUTime() - cpu0, Base: &base})
	// Hold the connections until stdin ends, answering STATS.
	for stdinLines.Scan() {
		if stdinLines.Text() == "STATS" {
			proc.Emit("STATS", proc.Settled())
		}
	}
	runtime.KeepAlive(conns)
	exit(0)
	return nil
}

func clientHandshake(lib *library, addr string, par int, dur time.Duration, drop bool) error {
	var (
		total atomic.Int64
		fails atomic.Int64
		first firstError
	)
	secs, cpu, err := timed(par, dur, func(_ int, stop *atomic.Bool) {
		for !stop.Load() {
			c, err := dialOne(lib, addr)
			if err == nil {
				if drop {
					err = c.drop()
				} else {
					err = c.close()
				}
				if isClosedErr(err) {
					err = nil
				}
			}
			if err != nil {
				fails.Add(1)
				first.set(err)
				continue
			}
			total.Add(1)
		}
	})
	if err != nil {
		return err
	}
	if err := first.get(); err != nil {
		return fmt.Errorf("%d of %d handshakes failed, first: %w", fails.Load(), fails.Load()+total.Load(), err)
	}
	proc.Emit("RESULT", clientResult{Ops: total.Load(), Secs: secs, CPUNs: cpu})
	return nil
}

// childSpin keeps one CPU busy until stdin closes: the latency
// benchmark's -busy part runs it beside a pair, so that no CPU goes idle.
func childSpin() {
	runtime.GOMAXPROCS(1)
	var stop atomic.Bool
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop.Store(true)
	}()
	for n := 0; !stop.Load(); n++ {
		if n%(1<<20) == 0 {
			runtime.Gosched() // let the stdin reader run on the one P
		}
	}
}
