// Command bench measures wsio side by side with other Go WebSocket
// libraries (gorilla/websocket, coder/websocket, lxzan/gws, gobwas/ws) and
// raw TCP as the ceiling, over loopback, with client and server in
// separate processes:
//
//	go run ./bench [all|echo|latency|code|bulk|relay|idle|handshake|deflate|h2] [flags]
//
// echo: round trips of 16 B, 1 KiB and 64 KiB binary messages over 1 and 64
// connections. latency: round trips of 16 B and 1 KiB messages over one
// connection (-lsizes, -lconns), twice: with each library's own client, and
// with one client (-client: gorilla, or raw, a client written on RFC 6455
// alone, or another library's) driving every server, so that the servers
// alone are compared (with -gcoff again with every server's garbage
// collector off, with -busy again beside a CPU-bound process); every wsio server shape's figure is divided by
// the better of gorilla's and coder's, every round's figures are printed
// beside the medians, and the machine's CPU idle entries per round trip
// are counted (see latency.go). code: each server's own code per echoed
// 16 B and 1 KiB message (-csizes), without the kernel: the bench process
// runs the server itself over an in-memory connection that feeds it the
// same frame again and again; wall time, CPU time and allocations per
// message (see code.go). bulk: one connection streams one
// huge binary message client→server and then server→client; MB/s and the
// peak RSS of both processes. relay: client → relay → sink, each a process,
// the relay written with the library as a proxy would be (wsio, gorilla,
// gws, gobwas; raw TCP's is io.Copy socket to socket): one -bulk message
// each way and 64 connections echoing 64 KiB, MB/s and the relay's CPU per
// GiB. idle: K connections held open after one small echo each (-idle, by
// default 10,000 and as many as the open-file limit allows); the server's
// RSS, Go heap and goroutines per connection. handshake: handshakes (each
// followed by a close) per second, sequential and in parallel. deflate:
// permessage-deflate on (wsio, gorilla, coder only): echo of ~1 KiB JSON
// text messages over 1 and 64 connections, and the server's memory per idle
// connection (-didle, after one compressed message each way and -dwait)
// against uncompressed wsio. h2: wsio over TLS, HTTP/2 (RFC 8441, all
// WebSockets streams of one connection) against HTTP/1.1: the time and CPU
// to open -h2conns WebSockets and what they cost the server and the client
// process once idle. Every figure is the median of -rounds rounds; within a
// round of the echo and latency benchmarks the libraries take turns in an
// order that rotates by one from round to round. Tables go to stdout and,
// as Markdown with the machine and the command line, to -md.
//
// -quick is a seconds-long smoke configuration; -libs and -only filter;
// -v prints every sample. With WSIO_BENCH_PROFILE=dir set, every child
// process writes a CPU profile (and servers a heap profile at each memory
// reading) into dir for go tool pprof.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wsio/wsio/conformance/internal/proc"
)

func main() {
	if proc.IsChild(childEnv) {
		os.Exit(childMain(os.Args[1:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	_, err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

var benchNames = []string{"echo", "latency", "code", "bulk", "relay", "idle", "handshake", "deflate", "h2"}

type config struct {
	args      []string
	libs      []string
	only      []string
	rounds    int
	quick     bool
	md        string
	echoDur   time.Duration
	echoConns []int
	echoSizes []int
	latClient string // latency: the -client library driving every server in the common-client tables
	latGCOff  bool   // latency: add a part with every server's garbage collector off
	latBusy   bool   // latency: add a part with a CPU-bound process running beside each pair
	latPin    bool   // latency: add parts with server and client pinned to one CPU, then to two
	latConns  []int  // latency: connection counts
	latSizes  []int  // latency: payload sizes

	codeDur   time.Duration // code: the least duration of each measurement's timed part
	codeSizes []int         // code: payload sizes

	bulkSize  int64
	idleConns []int // connection counts; "max" is the open-file limit less idleMargin
	idleWait  time.Duration
	dIdle     int           // deflate: connections held open for the memory figures
	dWait     time.Duration // deflate: pause before the memory reading
	h2Conns   int           // h2: WebSockets opened over each protocol
	hsDur     time.Duration
	hsPar     int
	verify    bool
	verbose   bool
}

func parseConfig(args []string, stderr io.Writer) (*config, error) {
	cfg := &config{args: args}
	sub := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./bench [all|%s] [flags]\n", strings.Join(benchNames, "|"))
		fs.PrintDefaults()
	}
	libs := fs.String("libs", "wsio,gorilla,coder,gws,gobwas,raw", "libraries to measure, comma-separated")
	only := fs.String("only", "", "benchmarks to run, comma-separated (default: all)")
	fs.IntVar(&cfg.rounds, "rounds", 5, "rounds per measurement; tables show the median")
	fs.BoolVar(&cfg.quick, "quick", false, "small fast configuration (smoke test); explicit flags still win")
	fs.StringVar(&cfg.md, "md", defaultMD(), "write the tables as Markdown to this file (\"\" for none)")
	fs.DurationVar(&cfg.echoDur, "dur", 3*time.Second, "echo: duration of each round")
	conns := fs.String("conns", "1,64", "echo: connection counts")
	sizes := fs.String("sizes", "16,1KiB,64KiB", "echo: payload sizes")
	fs.BoolVar(&cfg.latGCOff, "gcoff", false, "latency: add a part with each library's own client and every server's garbage collector off (GOGC=off), the control for what a collector's background work does to the wake-up of an idle process")
	fs.BoolVar(&cfg.latBusy, "busy", false, "latency: add a part with each library's own client and one CPU-bound process running beside each pair, so that no CPU goes idle between messages")
	fs.BoolVar(&cfg.latPin, "pin", false, "latency: add two parts with each library's own client, server and client pinned to one CPU, then to two different CPUs (Linux)")
	fs.StringVar(&cfg.latClient, "client", "gorilla", "latency: the client driving every server in the common-client tables: "+strings.Join(latencyClientNames, ", "))
	lconns := fs.String("lconns", "1", "latency: connection counts")
	lsizes := fs.String("lsizes", "16,1KiB", "latency: payload sizes")
	fs.DurationVar(&cfg.codeDur, "cdur", time.Second, "code: each measurement's message count grows until its timed part lasts this long")
	csizes := fs.String("csizes", "16,1KiB", "code: payload sizes")
	bulk := fs.String("bulk", "1GiB", "bulk: size of the streamed message")
	idle := fs.String("idle", "10000,max", "idle: connection counts to hold open, comma-separated; max: as many as the open-file limit allows")
	fs.DurationVar(&cfg.idleWait, "iwait", time.Second, "idle: wait after the last echo before reading the server's memory")
	fs.IntVar(&cfg.dIdle, "didle", 2000, "deflate: connections to hold open for the memory figures")
	fs.DurationVar(&cfg.dWait, "dwait", 3*time.Second, "deflate: wait after the last echo before reading the server's memory")
	fs.IntVar(&cfg.h2Conns, "h2conns", 1000, "h2: WebSockets to open over HTTP/2 and over HTTP/1.1")
	fs.DurationVar(&cfg.hsDur, "hsdur", 3*time.Second, "handshake: duration of each round")
	fs.IntVar(&cfg.hsPar, "hspar", 64, "handshake: parallel dialers in the parallel run")
	fs.BoolVar(&cfg.verify, "verify", false, "bulk: check CRC-32 of both transfers (costs throughput)")
	fs.BoolVar(&cfg.verbose, "v", false, "print every sample")
	err := fs.Parse(args)
	if err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		if sub != "" || fs.NArg() > 1 {
			return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
		}
		sub = fs.Arg(0)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cfg.quick {
		quick := map[string]string{
			"rounds": "1", "dur": "300ms", "conns": "1,8", "bulk": "8MiB",
			"idle": "200", "iwait": "100ms", "hsdur": "300ms", "hspar": "8", "verify": "true",
			"didle": "50", "dwait": "1500ms", "h2conns": "50", "cdur": "100ms",
		}
		for name, v := range quick {
			if !set[name] {
				if err := fs.Set(name, v); err != nil {
					return nil, err
				}
			}
		}
	}

	for _, name := range splitList(*libs) {
		if libByName(name) == nil {
			return nil, fmt.Errorf("unknown library %q (have wsio, gorilla, coder, gws, gobwas, raw)", name)
		}
		cfg.libs = append(cfg.libs, name)
	}
	cfg.only = splitList(*only)
	if len(cfg.only) == 0 {
		cfg.only = benchNames
	}
	for _, b := range cfg.only {
		if !slices.Contains(benchNames, b) {
			return nil, fmt.Errorf("unknown benchmark %q", b)
		}
	}
	switch {
	case sub == "" || sub == "all":
	case slices.Contains(benchNames, sub):
		if !set["only"] {
			cfg.only = []string{sub}
		} else if !slices.Contains(cfg.only, sub) {
			cfg.only = nil
		} else {
			cfg.only = []string{sub}
		}
	default:
		return nil, fmt.Errorf("unknown subcommand %q", sub)
	}
	if cfg.echoConns, err = parseCounts("-conns", *conns); err != nil {
		return nil, err
	}
	if cfg.echoSizes, err = parseSizes("-sizes", *sizes); err != nil {
		return nil, err
	}
	if cfg.latConns, err = parseCounts("-lconns", *lconns); err != nil {
		return nil, err
	}
	if cfg.latSizes, err = parseSizes("-lsizes", *lsizes); err != nil {
		return nil, err
	}
	if cfg.codeSizes, err = parseSizes("-csizes", *csizes); err != nil {
		return nil, err
	}
	if latencyClient(cfg.latClient) == nil {
		return nil, fmt.Errorf("unknown -client %q (have %s)", cfg.latClient, strings.Join(latencyClientNames, ", "))
	}
	n, err := parseSize(*bulk)
	if err != nil || n < 2 {
		return nil, fmt.Errorf("bad -bulk %q", *bulk)
	}
	cfg.bulkSize = n
	for _, v := range splitList(*idle) {
		k, err := strconv.Atoi(v)
		if v == "max" {
			k, err = maxIdle(), nil
		}
		if err != nil || k < 1 {
			return nil, fmt.Errorf("bad -idle entry %q", v)
		}
		cfg.idleConns = append(cfg.idleConns, k)
	}
	if cfg.rounds < 1 || len(cfg.idleConns) == 0 || cfg.dIdle < 1 || cfg.h2Conns < 1 || cfg.hsPar < 1 || len(cfg.libs) == 0 ||
		len(cfg.latConns) == 0 || len(cfg.latSizes) == 0 || len(cfg.codeSizes) == 0 || cfg.codeDur <= 0 {
		return nil, errors.New("-rounds, -lconns, -lsizes, -csizes, -cdur, -idle, -didle, -h2conns, -hspar and -libs must be positive / non-empty")
	}
	return cfg, nil
}

// parseCounts parses the comma-separated connection counts of flag name.
func parseCounts(name, list string) ([]int, error) {
	var out []int
	for _, s := range splitList(list) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad %s entry %q", name, s)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseSizes parses the comma-separated payload sizes of flag name.
func parseSizes(name, list string) ([]int, error) {
	var out []int
	for _, s := range splitList(list) {
		n, err := parseSize(s)
		if err != nil {
			return nil, fmt.Errorf("bad %s entry %q", name, s)
		}
		out = append(out, int(n))
	}
	return out, nil
}

// idleMargin is what -idle max leaves of the open-file limit for the
// process's other descriptors (listener, pipes, epoll, Go runtime).
const idleMargin = 100

// maxIdle is the most connections one process can hold: the hard
// RLIMIT_NOFILE (children raise their soft limit to it) less idleMargin,
// at most idleCap.
func maxIdle() int {
	_, hard := proc.NoFileLimit()
	return int(max(min(hard, idleCap+idleMargin), idleMargin+1) - idleMargin)
}

// idleCap bounds -idle max where the open-file limit is large, so the
// load stays bounded.
const idleCap = 50000

// defaultMD is bench/results.md next to the sources when run from the
// conformance module (go run ./bench), else results.md here.
func defaultMD() string {
	if _, err := os.Stat(filepath.Join("bench", "main.go")); err == nil {
		return filepath.Join("bench", "results.md")
	}
	return "results.md"
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = v, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

func fmtSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// runner runs the benchmarks in child processes and collects the tables.
type runner struct {
	ctx      context.Context
	cfg      *config
	exe      string
	out, log io.Writer
	report   *report
	bulkFile string
	bulkCRC  uint32
}

// run is the whole program; it returns the report (the tests read it).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (*report, error) {
	cfg, err := parseConfig(args, stderr)
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	proc.RaiseNoFile()
	r := &runner{ctx: ctx, cfg: cfg, exe: exe, out: stdout, log: stderr, report: newReport(cfg)}
	defer func() {
		if r.bulkFile != "" {
			os.Remove(r.bulkFile)
		}
	}()
	steps := map[string]func() error{"echo": r.echo, "latency": r.latency, "code": r.code, "bulk": r.bulk, "relay": r.relay, "idle": r.idle, "handshake": r.handshake, "deflate": r.deflate, "h2": r.h2}
	for _, name := range benchNames {
		if !slices.Contains(cfg.only, name) {
			continue
		}
		if err := steps[name](); err != nil {
			return r.report, err
		}
		if err := ctx.Err(); err != nil {
			return r.report, err
		}
	}
	r.report.finish()
	if cfg.md != "" {
		if err := os.WriteFile(cfg.md, []byte(r.report.markdown()), 0o644); err != nil {
			return r.report, err
		}
		fmt.Fprintf(stderr, "wrote %s\n", cfg.md)
	}
	if n := len(r.report.failures); n > 0 {
		return r.report, fmt.Errorf("%d measurement(s) failed:\n  %s", n, strings.Join(r.report.failures, "\n  "))
	}
	return r.report, nil
}

func (r *runner) progress(format string, a ...any) {
	if r.cfg.verbose {
		fmt.Fprintf(r.log, format+"\n", a...)
	}
}

func (r *runner) fail(bench, lib string, err error) {
	msg := fmt.Sprintf("%s/%s: %v", bench, lib, err)
	fmt.Fprintln(r.log, "FAIL", msg)
	r.report.failures = append(r.report.failures, msg)
}

func (r *runner) startServer(lib, mode string, extra ...string) (*child, string, error) {
	args := append([]string{"serve", "-lib", lib, "-mode", mode}, extra...)
	srv, err := startChild(r.exe, lib+" server", args...)
	if err != nil {
		return nil, "", err
	}
	addr, err := srv.expect("LISTEN", 30*time.Second)
	if err != nil {
		srv.Kill()
		return nil, "", err
	}
	return srv, addr, nil
}

func (r *runner) startClient(lib, mode, addr string, extra ...string) (*child, error) {
	args := append([]string{"client", "-lib", lib, "-mode", mode, "-addr", addr}, extra...)
	return startChild(r.exe, lib+" client", args...)
}

// pairResult is what one server + client run measured.
type pairResult struct {
	clientResult
	serverCPUNs int64      // the server's CPU time over the timed part
	idleEntries int64      // the machine's CPU idle-state entries over the timed part, or -1 when unknown
	server      proc.Stats // with wantStats: the server's stats afterwards
}

// cpuUs returns the CPU time of both processes per operation, in µs.
func (p pairResult) cpuUs(ops float64) float64 {
	return float64(p.CPUNs+p.serverCPUNs) / 1e3 / ops
}

// pair runs one server and one client of lib to completion (see pairOf).
func (r *runner) pair(lib, mode string, srvArgs, cliArgs []string, timeout time.Duration, wantStats bool) (pairResult, error) {
	return r.pairOf(lib, lib, mode, srvArgs, cliArgs, timeout, wantStats)
}

// pairOf runs a server of srvLib and a client of cliLib to completion.
// The client sets up (dials), says WARM and waits; the server's CPU clock
// is read, the client told GO, and read again after the client's RESULT.
func (r *runner) pairOf(srvLib, cliLib, mode string, srvArgs, cliArgs []string, timeout time.Duration, wantStats bool) (pairResult, error) {
	var res pairResult
	srv, addr, err := r.startServer(srvLib, mode, srvArgs...)
	if err != nil {
		return res, err
	}
	defer srv.Stop()
	cli, err := r.startClient(cliLib, mode, addr, cliArgs...)
	if err != nil {
		return res, err
	}
	defer cli.Stop()
	if res, err = timedPair(srv, cli, timeout); err != nil {
		return res, err
	}
	if wantStats {
		res.server, err = srv.stats()
	}
	return res, err
}

// timedPair waits for cli's WARM, tells it GO and returns its RESULT with the
// CPU time srv spent between the two.
func timedPair(srv, cli *child, timeout time.Duration) (pairResult, error) {
	var res pairResult
	if _, err := cli.expect("WARM", 2*time.Minute); err != nil {
		return res, err
	}
	c0, err := srv.cpu()
	if err != nil {
		return res, err
	}
	i0 := cpuIdleEntries()
	if err := cli.Send("GO"); err != nil {
		return res, err
	}
	if err := cli.expectJSON("RESULT", timeout, &res.clientResult); err != nil {
		return res, err
	}
	i1 := cpuIdleEntries()
	c1, err := srv.cpu()
	if err != nil {
		return res, err
	}
	res.serverCPUNs = c1 - c0
	res.idleEntries = -1
	if i0 >= 0 && i1 >= i0 {
		res.idleEntries = i1 - i0
	}
	return res, nil
}

// cpuIdleEntries returns how many times the machine's CPUs have entered
// an idle state (Linux cpuidle: each CPU's states' usage counts, summed),
// or -1 when the system does not say.
func cpuIdleEntries() int64 {
	files, _ := filepath.Glob("/sys/devices/system/cpu/cpu[0-9]*/cpuidle/state[0-9]*/usage")
	if len(files) == 0 {
		return -1
	}
	var sum int64
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return -1
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return -1
		}
		sum += n
	}
	return sum
}

func (r *runner) libs() []string { return r.cfg.libs }

// withHTTP is libs with wsio's variants after wsio: the echo, latency,
// idle and handshake benchmarks show its net/http path (wsio-http) and
// its event server under Serve (wsio-events) and under net/http
// (wsio-events-http) beside its Serve path.
func (r *runner) withHTTP() []string { return withHTTP(r.cfg.libs) }

func withHTTP(libs []string) []string {
	var out []string
	for _, l := range libs {
		out = append(out, l)
		if l == "wsio" {
			out = append(out, wsioHTTPLib.name, wsioEventsLib.name, wsioEventsHTTPLib.name)
		}
	}
	return out
}

// withFloor adds the ws-floor reference before raw, when raw is measured:
// the handshake table's columns.
func withFloor(cols []string) []string {
	i := slices.Index(cols, rawLib.name)
	if i < 0 {
		return cols
	}
	return slices.Insert(slices.Clone(cols), i, wsFloorLib.name)
}

// rotated returns libs in the order round (from 1) measures them: round 1
// in the order given, each later round starting one library further on
// (a b c, then b c a, then c a b, ...), so that a slow phase of the machine
// does not always fall on the same library.
func rotated(libs []string, round int) []string {
	if len(libs) == 0 {
		return nil
	}
	k := (round - 1) % len(libs)
	if k < 0 {
		k += len(libs)
	}
	return append(slices.Clone(libs[k:]), libs[:k]...)
}

// ---- echo ----

func echoRow(conns, size int) string {
	c := "conns"
	if conns == 1 {
		c = "conn"
	}
	return fmt.Sprintf("%d %s × %s", conns, c, fmtSize(int64(size)))
}

func (r *runner) echo() error {
	rate := r.report.table("echo", "Echo round trips per second (higher is better)", "msg/s", true)
	rate.note = fmt.Sprintf("Each connection sends one binary message, waits for its echo, repeats, for %v per round; "+
		"messages/s counts completed round trips over all connections.", r.cfg.echoDur)
	mbs := r.report.table("echo", "Echo payload throughput, MB/s (one direction; higher is better)", "MB/s", true)
	cpu := r.report.table("echo", "Echo CPU time per round trip, µs, client + server processes (lower is better)", "µs", false)
	cpu.note = "CPU time (user + system, getrusage) of both processes over the timed part, divided by the round trips: " +
		"a measure of cost that a busy machine disturbs much less than the rates above."
	rate.cols = r.withHTTP()
	mbs.cols, cpu.cols = rate.cols, rate.cols
	for _, conns := range r.cfg.echoConns {
		for _, size := range r.cfg.echoSizes {
			rate.addRow(echoRow(conns, size))
			mbs.addRow(echoRow(conns, size))
			cpu.addRow(echoRow(conns, size))
		}
	}
	for round := 1; round <= r.cfg.rounds; round++ {
		for _, conns := range r.cfg.echoConns {
			for _, size := range r.cfg.echoSizes {
				row := echoRow(conns, size)
				for _, lib := range rotated(rate.cols, round) {
					if r.ctx.Err() != nil {
						return r.ctx.Err()
					}
					res, err := r.pair(lib, "echo", nil, []string{
						"-conns", strconv.Itoa(conns), "-size", strconv.Itoa(size), "-dur", r.cfg.echoDur.String(),
					}, r.cfg.echoDur+2*time.Minute, false)
					if err != nil {
						r.fail("echo "+row, lib, err)
						continue
					}
					v := float64(res.Ops) / res.Secs
					rate.add(row, lib, v)
					mbs.add(row, lib, v*float64(size)/1e6)
					cpu.add(row, lib, res.cpuUs(float64(res.Ops)))
					r.progress("echo %s %s round %d: %.0f msg/s", row, lib, round, v)
				}
			}
		}
	}
	r.printTable(rate)
	r.printTable(mbs)
	r.printTable(cpu)
	return nil
}

// ---- bulk ----

func (r *runner) makeBulkFile() error {
	if r.bulkFile != "" {
		return nil
	}
	f, err := os.CreateTemp("", "wsio-bench-*.bin")
	if err != nil {
		return err
	}
	r.bulkFile = f.Name()
	rng := rand.NewChaCha8([32]byte{'w', 's', 'i', 'o'})
	buf := make([]byte, 1<<20)
	var sum uint32
	for left := r.cfg.bulkSize; left > 0; {
		n := min(int64(len(buf)), left)
		_, _ = rng.Read(buf[:n])
		sum = crc32.Update(sum, crc32.IEEETable, buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			f.Close()
			return err
		}
		left -= n
	}
	r.bulkCRC = sum
	return f.Close()
}

func (r *runner) bulk() error {
	if err := r.makeBulkFile(); err != nil {
		return err
	}
	size := r.cfg.bulkSize
	t := r.report.table("bulk", fmt.Sprintf("Bulk: one %s binary message, streamed (MB/s higher is better, peak RSS lower is better)", fmtSize(size)), "", true)
	t.note = "Client→server: the client streams the file as one message, the server reads it as a stream through a 64 KiB " +
		"buffer and discards it, then answers with the byte count; server→client: the server streams the file back. " +
		"Peak RSS is VmHWM of each process over both transfers."
	rows := []string{"client→server MB/s", "server→client MB/s", "server peak RSS MiB", "client peak RSS MiB",
		"CPU s per GB moved (both processes)"}
	for _, row := range rows {
		t.addRow(row)
	}
	t.lowerBetter = map[string]bool{rows[2]: true, rows[3]: true, rows[4]: true}
	verify := strconv.FormatBool(r.cfg.verify)
	timeout := 2*time.Minute + time.Duration(size/(5<<20))*time.Second // allows 5 MB/s
	for round := 1; round <= r.cfg.rounds; round++ {
		for _, lib := range r.libs() {
			if r.ctx.Err() != nil {
				return r.ctx.Err()
			}
			res, err := r.pair(lib, "bulk",
				[]string{"-file", r.bulkFile, "-size", strconv.FormatInt(size, 10), "-verify=" + verify},
				[]string{"-file", r.bulkFile, "-size", strconv.FormatInt(size, 10), "-verify=" + verify,
					"-crc", strconv.FormatUint(uint64(r.bulkCRC), 10)},
				timeout, true)
			if err != nil {
				r.fail("bulk", lib, err)
				continue
			}
			t.add(rows[0], lib, res.UpMBps)
			t.add(rows[1], lib, res.DownMBs)
			st := res.server
			t.add(rows[2], lib, float64(st.HWMKiB)/1024)
			t.add(rows[3], lib, float64(res.HWMKiB)/1024)
			t.add(rows[4], lib, float64(res.CPUNs+res.serverCPUNs)/1e9/(2*float64(size)/1e9))
			r.progress("bulk %s round %d: up %.0f MB/s, down %.0f MB/s, server HWM %d KiB, client HWM %d KiB",
				lib, round, res.UpMBps, res.DownMBs, st.HWMKiB, res.HWMKiB)
		}
	}
	r.printTable(t)
	return nil
}

// ---- idle ----

func (r *runner) idle() error {
	for _, k := range r.cfg.idleConns {
		if err := r.idleK(k); err != nil {
			return err
		}
	}
	return nil
}

// idleK measures every library holding k idle connections.
func (r *runner) idleK(k int) error {
	t := r.report.table("idle", fmt.Sprintf("Idle: server cost per connection with %d open connections (lower is better)", k), "", false)
	t.note = "Each client connection does one 16 B echo, then all stay open and silent; the server's figures are read " +
		r.cfg.idleWait.String() + " after the last echo, after " +
		"runtime/debug.FreeOSMemory, (value with K connections − value with none) / K. RSS from /proc/self/status, " +
		"Go heap = runtime.MemStats.HeapInuse, Go stacks = StackInuse (goroutine stacks). Open time: the client's time to dial and echo on all K (32 dialers)."
	t.cols = r.withHTTP()
	rows := []string{"RSS KiB/conn", "Go heap KiB/conn", "Go stacks KiB/conn", "goroutines/conn", "open time for all, s"}
	for _, row := range rows {
		t.addRow(row)
	}
	return r.eachRound(t, "idle", func(lib string, round int) error { return r.idleOne(t, rows, lib, round, k) })
}

func (r *runner) idleOne(t *table, rows []string, lib string, round, k int) error {
	s0, s1, ready, err := r.idleMeasure(lib, "idle", k, r.cfg.idleWait)
	if err != nil {
		return err
	}
	fk := float64(k)
	t.add(rows[0], lib, float64(s1.RSSKiB-s0.RSSKiB)/fk)
	t.add(rows[1], lib, (float64(s1.HeapInuse)-float64(s0.HeapInuse))/1024/fk)
	t.add(rows[2], lib, (float64(s1.StackInuse)-float64(s0.StackInuse))/1024/fk)
	t.add(rows[3], lib, float64(s1.Goroutines-s0.Goroutines)/fk)
	t.add(rows[4], lib, ready.Secs)
	r.progress("idle %s round %d: RSS %d→%d KiB, heap %d→%d, goroutines %d→%d, open %.2fs", lib, round,
		s0.RSSKiB, s1.RSSKiB, s0.HeapInuse, s1.HeapInuse, s0.Goroutines, s1.Goroutines, ready.Secs)
	return nil
}

// idleMeasure starts a server, reads its stats, has a client in cliMode
// open k connections (each echoes once), waits wait and reads the server's
// stats again.
func (r *runner) idleMeasure(lib, cliMode string, k int, wait time.Duration) (s0, s1 proc.Stats, ready clientResult, err error) {
	srv, addr, err := r.startServer(lib, "echo")
	if err != nil {
		return s0, s1, ready, err
	}
	defer srv.Stop()
	if s0, err = srv.stats(); err != nil {
		return s0, s1, ready, err
	}
	cli, err := r.startClient(lib, cliMode, addr, "-conns", strconv.Itoa(k))
	if err != nil {
		return s0, s1, ready, err
	}
	defer cli.Stop()
	if err = cli.expectJSON("READY", 5*time.Minute, &ready); err != nil {
		return s0, s1, ready, err
	}
	if wait > 0 {
		select {
		case <-time.After(wait):
		case <-r.ctx.Done():
			return s0, s1, ready, r.ctx.Err()
		}
	}
	s1, err = srv.stats()
	return s0, s1, ready, err
}

// ---- handshake ----

func (r *runner) handshake() error {
	t := r.report.table("handshake", "Handshakes per second (higher is better)", "hs/s", true)
	t.note = fmt.Sprintf("A client dials (TCP connect + opening handshake; wsio: Server.Serve's own upgrade reader, "+
		"wsio-http: the same Server under net/http, as the others) and closes at once, in a loop for %v per round. "+
		"In the first two rows it closes with the closing handshake: it sends a close frame and waits for the server's "+
		"(gws: WriteClose sends it and drops TCP at once). In the 'TCP close' row it closes TCP without a close frame "+
		"(wsio CloseNow, coder CloseNow, gorilla Close, the others close the net.Conn), which is what issue 6's target compares: "+
		"the opening handshake against raw TCP's connect + accept + a 1-byte write. ws-floor, beside raw, makes exactly the system calls "+
		"of a WebSocket handshake (request head out, 101 head back; a close frame each way in the first two rows) with canned bytes "+
		"and no parsing, checking or bookkeeping: what a library spends above it is its own work.", r.cfg.hsDur)
	cpu := r.report.table("handshake", "Handshake CPU time, µs per connection, client + server processes (lower is better)", "µs", false)
	type hsRow struct {
		par  int
		drop bool
	}
	pars := []hsRow{{1, false}, {r.cfg.hsPar, false}, {r.cfg.hsPar, true}}
	rowOf := func(h hsRow) string {
		switch {
		case h.par == 1:
			return "sequential"
		case h.drop:
			return fmt.Sprintf("%d in parallel, TCP close", h.par)
		}
		return fmt.Sprintf("%d in parallel", h.par)
	}
	t.cols = withFloor(r.withHTTP())
	cpu.cols = t.cols
	for _, par := range pars {
		t.addRow(rowOf(par))
		cpu.addRow(rowOf(par))
	}
	for round := 1; round <= r.cfg.rounds; round++ {
		for _, par := range pars {
			for _, lib := range t.cols {
				if r.ctx.Err() != nil {
					return r.ctx.Err()
				}
				res, err := r.pair(lib, "handshake", nil, []string{
					"-conns", strconv.Itoa(par.par), "-dur", r.cfg.hsDur.String(), "-drop=" + strconv.FormatBool(par.drop),
				}, r.cfg.hsDur+2*time.Minute, false)
				if err != nil {
					r.fail("handshake "+rowOf(par), lib, err)
					continue
				}
				v := float64(res.Ops) / res.Secs
				t.add(rowOf(par), lib, v)
				cpu.add(rowOf(par), lib, res.cpuUs(float64(res.Ops)))
				r.progress("handshake %s %s round %d: %.0f hs/s", rowOf(par), lib, round, v)
			}
		}
	}
	r.printTable(t)
	r.printTable(cpu)
	return nil
}

func (r *runner) printTable(t *table) {
	fmt.Fprintln(r.out, t.text(r.cfg.libs))
}

// eachRound measures every column of t, round after round, with one; a
// failed measurement is recorded and the run goes on. It prints t at the
// end, and stops early only when the run is canceled.
func (r *runner) eachRound(t *table, what string, one func(lib string, round int) error) error {
	for round := 1; round <= r.cfg.rounds; round++ {
		for _, lib := range t.cols {
			if r.ctx.Err() != nil {
				return r.ctx.Err()
			}
			if err := one(lib, round); err != nil {
				r.fail(what, lib, err)
			}
		}
	}
	r.printTable(t)
	return nil
}
