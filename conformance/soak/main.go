// Command soak is a bounded load-and-soak test of wsio: many concurrent
// WebSocket connections over loopback, held open with keepalive on both
// sides while a fixed number of binary messages of random sizes is echoed
// and verified, then closed, with the server's goroutines and heap
// checked against its baseline.
//
//	go run ./soak [flags]                      # the full run: 18,000 connections, 1,000,000 messages, 5 min hold
//	go run ./soak -smoke                       # seconds: 200 connections, 2,000 messages, 10 s hold
//	go run ./soak -gomaxprocs 1 -out soak/results-gomaxprocs1.md
//
// The program re-executes itself as two children, a server (-role server)
// and a client (-role client), so that each process's memory and CPU time
// are its own; it drives them over their stdin and collects their JSON
// reports from their stdout. Both raise their soft RLIMIT_NOFILE to the
// hard limit. The client spreads its source addresses over 127.0.0.10–25
// (bound with net.Dialer.LocalAddr and IP_BIND_ADDRESS_NO_PORT) and dials
// -dial-parallel connections at a time, so neither the ephemeral ports nor
// the listen backlog run out.
//
// Sequence: the server starts (wsio.NewServer + Serve on a 127.0.0.1
// listener) and its baseline is read; the client dials every connection;
// the hold starts and -messages messages are echoed by -workers workers,
// each picking a connection at random that has no message in flight,
// sending one binary message whose size is drawn from -dist between
// -min-size and -max-size, with a ChaCha8 payload seeded per message, as a
// stream (BeginBinary; the server echoes it streaming too, BeginBinary +
// io.Copy from the Message reader), and checking length and SHA-256 of the
// echo. The hold lasts at least -hold (idle, keepalive only, once the
// messages are done); at its end every connection must still be open.
// Then the client closes each with 1000; after a grace period the
// server's goroutines must be back within -goroutine-tolerance of the
// baseline and its heap within -heap-tolerance.
//
// Sizes are log-uniform by default: a uniform draw between 1 B and 1 MiB
// averages 512 KiB, so 1,000,000 messages would move 512 GiB each way
// (hours on a 2-core machine, nearly all of it in the 256 KiB–1 MiB
// range); log-uniform averages about 75 KiB and puts the same number of
// messages in every power-of-two size class, from 1 B to 1 MiB.
// -dist uniform is there for the other trade-off.
//
// The run passes when every connection was established, none dropped, all
// were open at the end of the hold and closed cleanly, every message came
// back intact (lost and corrupted both zero) and the server (and client)
// returned to its baseline; otherwise the exit status is 1. The report
// (Markdown, with the command, machine, date and every figure) goes to
// stdout and to -out.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wsio/wsio/conformance/internal/proc"
)

// main parses the flags and runs the parent or, with -role, a child.
func main() {
	cfg, err := parseConfig(os.Args[1:], os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	os.Exit(runMain(cfg))
}

// runMain runs the role cfg asks for and returns the exit status.
func runMain(cfg *config) int {
	switch cfg.role {
	case "server", "client":
		run := serverMain
		if cfg.role == "client" {
			run = clientMain
		}
		if err := run(cfg); err != nil {
			proc.EmitError(err)
			return 1
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if _, err := run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 1
	}
	return 0
}

// config holds the flags, for the parent and both children.
type config struct {
	args []string // as given, for the report

	role          string
	addr          string
	conns         int
	messages      int
	workers       int
	dialParallel  int
	closeParallel int
	dist          string
	minSize       int
	maxSize       int
	seed          uint64

	hold             time.Duration
	keepalive        time.Duration
	keepaliveTimeout time.Duration
	echoTimeout      time.Duration
	dialTimeout      time.Duration
	progress         time.Duration
	sampleEvery      time.Duration
	grace            time.Duration
	timeout          time.Duration

	gomaxprocs   int
	out          string
	goroutineTol int
	heapTol      int64
	smoke        bool

	corruptEvery int
	dropEvery    int
	profileDir   string
}

// parseConfig parses the command line.
func parseConfig(args []string, stderr io.Writer) (*config, error) {
	cfg := &config{args: args}
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./soak [flags]   (from conformance/)")
		fs.PrintDefaults()
	}
	fs.IntVar(&cfg.conns, "conns", 18000, "concurrent connections")
	fs.IntVar(&cfg.messages, "messages", 1_000_000, "messages to echo during the hold")
	fs.DurationVar(&cfg.hold, "hold", 5*time.Minute, "minimum time the connections are held open, from the first message")
	fs.IntVar(&cfg.workers, "workers", 48, "client workers, each with one message in flight")
	fs.IntVar(&cfg.dialParallel, "dial-parallel", 64, "dials in flight at a time")
	fs.IntVar(&cfg.closeParallel, "close-parallel", 256, "closing handshakes in flight at a time")
	fs.StringVar(&cfg.dist, "dist", "loguniform", "message size distribution: loguniform or uniform")
	minSize := fs.String("min-size", "1", "smallest message")
	maxSize := fs.String("max-size", "1MiB", "largest message")
	fs.Uint64Var(&cfg.seed, "seed", 1, "seed of the message sizes, payloads and connection picks")
	fs.DurationVar(&cfg.keepalive, "keepalive", 30*time.Second, "KeepaliveInterval on both sides")
	fs.DurationVar(&cfg.keepaliveTimeout, "keepalive-timeout", 30*time.Second, "KeepaliveTimeout on both sides")
	fs.DurationVar(&cfg.echoTimeout, "echo-timeout", 2*time.Minute, "time a message's send and echo may take before it counts as lost")
	fs.DurationVar(&cfg.dialTimeout, "dial-timeout", 30*time.Second, "time one dial and handshake may take")
	fs.DurationVar(&cfg.progress, "progress", 10*time.Second, "interval of the progress lines on stderr")
	fs.DurationVar(&cfg.sampleEvery, "sample", 30*time.Second, "interval of the server's settled (after GC) memory readings under load")
	fs.DurationVar(&cfg.grace, "grace", 30*time.Second, "after the close, how long the server may take to return to its baseline")
	fs.DurationVar(&cfg.timeout, "timeout", 3*time.Hour, "give up the whole run after this long")
	fs.IntVar(&cfg.gomaxprocs, "gomaxprocs", 0, "GOMAXPROCS for both children (0: Go's default)")
	fs.StringVar(&cfg.out, "out", defaultOut(), "also write the Markdown report to this file (\"\" for none)")
	fs.IntVar(&cfg.goroutineTol, "goroutine-tolerance", 10, "goroutines allowed above the baseline after the close")
	heapTol := fs.String("heap-tolerance", "4MiB", "HeapInuse allowed above the baseline after the close")
	fs.BoolVar(&cfg.smoke, "smoke", false, "quick configuration: -conns 200 -messages 2000 -hold 10s -keepalive 2s -keepalive-timeout 5s -grace 10s (explicit flags win)")
	fs.IntVar(&cfg.corruptEvery, "corrupt-every", 0, "fault injection (tests only): the server flips a bit in every Nth echo")
	fs.IntVar(&cfg.dropEvery, "drop-every", 0, "fault injection (tests only): the server drops every Nth message unechoed")
	fs.StringVar(&cfg.profileDir, "profile", "", "write the server's heap profile and goroutine stacks at each memory reading (heap-NN.pprof, goroutines-NN.txt, and goroutines-peak.txt at its goroutine peak) and both children's CPU profiles into this directory")
	fs.StringVar(&cfg.role, "role", "", "internal: run as the server or client child")
	fs.StringVar(&cfg.addr, "addr", "", "internal: the server's address, for the client child")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.smoke {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range map[string]string{
			"conns": "200", "messages": "2000", "hold": "10s", "keepalive": "2s", "keepalive-timeout": "5s", "grace": "10s",
		} {
			if !set[name] {
				if err := fs.Set(name, v); err != nil {
					return nil, err
				}
			}
		}
	}
	var err error
	if cfg.heapTol, err = parseSize(*heapTol); err != nil {
		return nil, err
	}
	n, err := parseSize(*minSize)
	if err != nil {
		return nil, err
	}
	cfg.minSize = int(n)
	if n, err = parseSize(*maxSize); err != nil {
		return nil, err
	}
	cfg.maxSize = int(n)
	switch {
	case cfg.role != "" && cfg.role != "server" && cfg.role != "client":
		return nil, fmt.Errorf("unknown -role %q", cfg.role)
	case cfg.dist != "loguniform" && cfg.dist != "uniform":
		return nil, fmt.Errorf("-dist must be loguniform or uniform, not %q", cfg.dist)
	case cfg.minSize < 1 || cfg.maxSize < cfg.minSize:
		return nil, errors.New("need 1 ≤ -min-size ≤ -max-size")
	case cfg.conns < 1 || cfg.messages < 0 || cfg.workers < 1 || cfg.dialParallel < 1 || cfg.closeParallel < 1:
		return nil, errors.New("-conns, -workers, -dial-parallel and -close-parallel must be positive, -messages not negative")
	case cfg.keepalive < 0 || cfg.keepaliveTimeout < 0 || cfg.echoTimeout <= 0 || cfg.dialTimeout <= 0 || cfg.progress <= 0 || cfg.sampleEvery <= 0:
		return nil, errors.New("durations must be positive (keepalive: 0 turns it off)")
	}
	return cfg, nil
}

// childArgs are the flags a child of the given role needs.
func (cfg *config) childArgs(role, addr string) []string {
	a := []string{
		"-role", role,
		"-keepalive", cfg.keepalive.String(),
		"-keepalive-timeout", cfg.keepaliveTimeout.String(),
		"-profile", cfg.profileDir,
	}
	if role == "server" {
		return append(a,
			"-corrupt-every", strconv.Itoa(cfg.corruptEvery),
			"-drop-every", strconv.Itoa(cfg.dropEvery))
	}
	return append(a,
		"-addr", addr,
		"-conns", strconv.Itoa(cfg.conns),
		"-messages", strconv.Itoa(cfg.messages),
		"-hold", cfg.hold.String(),
		"-workers", strconv.Itoa(cfg.workers),
		"-dial-parallel", strconv.Itoa(cfg.dialParallel),
		"-close-parallel", strconv.Itoa(cfg.closeParallel),
		"-dist", cfg.dist,
		"-min-size", strconv.Itoa(cfg.minSize),
		"-max-size", strconv.Itoa(cfg.maxSize),
		"-seed", strconv.FormatUint(cfg.seed, 10),
		"-echo-timeout", cfg.echoTimeout.String(),
		"-dial-timeout", cfg.dialTimeout.String(),
		"-progress", cfg.progress.String())
}

// defaultOut is soak/results.md when run from the conformance module
// (go run ./soak), else results.md here.
func defaultOut() string {
	if _, err := os.Stat(filepath.Join("soak", "main.go")); err == nil {
		return filepath.Join("soak", "results.md")
	}
	return "results.md"
}

// parseSize parses a byte count with an optional B, KiB, MiB or GiB suffix.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
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

// run is the parent: it starts the children, drives the run, and writes
// the report. It returns the result (the tests read it) and an error when
// the run could not be completed or did not pass.
func run(ctx context.Context, cfg *config, stdout, stderr io.Writer) (*result, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var env []string
	if cfg.gomaxprocs > 0 {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(cfg.gomaxprocs))
	}
	res := newResult(cfg)
	res.gBytes = goroutineRetention()
	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, "soak +%s: %s\n", time.Since(res.start).Round(time.Second), fmt.Sprintf(format, a...))
	}
	finish := func(runErr error) (*result, error) {
		res.finish(runErr)
		md := res.markdown()
		fmt.Fprint(stdout, md)
		if cfg.out != "" {
			if err := os.WriteFile(cfg.out, []byte(md), 0o644); err != nil {
				return res, err
			}
			logf("wrote %s", cfg.out)
		}
		if runErr != nil {
			return res, runErr
		}
		if failed := res.failedChecks(); len(failed) > 0 {
			return res, fmt.Errorf("FAIL: %s", strings.Join(failed, "; "))
		}
		logf("PASS")
		return res, nil
	}

	srv, err := startChild(exe, "server", env, cfg.childArgs("server", "")...)
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	addr, err := srv.Expect(ctx, "LISTEN", 30*time.Second, nil)
	if err != nil {
		return finish(err)
	}
	addr = strings.Trim(addr, `"`)
	serverStats := func(what string) (serverReport, error) {
		var r serverReport
		if err := srv.Send("STATS"); err != nil {
			return r, err
		}
		err := srv.ExpectJSON(ctx, "STATS", 5*time.Minute, nil, &r)
		if err != nil {
			err = fmt.Errorf("server stats (%s): %w", what, err)
		}
		return r, err
	}
	if res.server.baseline, err = serverStats("baseline"); err != nil {
		return finish(err)
	}
	logf("server listening on %s; baseline %d goroutines, heap %s", addr, res.server.baseline.Stats.Goroutines, mib(res.server.baseline.Stats.HeapInuse))

	cli, err := startChild(exe, "client", env, cfg.childArgs("client", addr)...)
	if err != nil {
		return finish(err)
	}
	defer cli.Stop()
	progress := func(line string) {
		if rest, ok := strings.CutPrefix(line, "PROGRESS "); ok {
			logf("messages %s", rest)
		}
	}
	logf("dialing %d connections, %d at a time", cfg.conns, cfg.dialParallel)
	if err := cli.ExpectJSON(ctx, "CONNECTED", cfg.timeout, progress, &res.client.connected); err != nil {
		return finish(err)
	}
	logf("%d connected, %d failed, in %.1fs", res.client.connected.Established, res.client.connected.Failed, res.client.connected.Secs)
	if res.server.connected, err = serverStats("connected"); err != nil {
		return finish(err)
	}
	logf("server: %d open, %d goroutines, heap %s", res.server.connected.Open, res.server.connected.Stats.Goroutines, mib(res.server.connected.Stats.HeapInuse))

	if err := cli.Send("GO"); err != nil {
		return finish(err)
	}
	logf("hold started: %d messages, %d workers, hold at least %v", cfg.messages, cfg.workers, cfg.hold)
	for {
		err := cli.ExpectJSON(ctx, "HELD", cfg.sampleEvery, progress, &res.client.held)
		if err == nil {
			break
		}
		if !errors.Is(err, proc.ErrTimeout) {
			return finish(err)
		}
		s, err := serverStats("under load")
		if err != nil {
			return finish(err)
		}
		res.server.samples = append(res.server.samples, s)
		logf("server: %d open, %d goroutines, heap %s (after GC), RSS %s, %d echoed",
			s.Open, s.Stats.Goroutines, mib(s.Stats.HeapInuse), mib(uint64(s.Stats.RSSKiB)<<10), s.Echoed)
	}
	h := &res.client.held
	logf("hold ended after %.1fs (messages took %.1fs): %d ok, %d lost, %d corrupted; %d open on the client",
		h.HoldSecs, h.MsgSecs, h.Counts.OK, h.Counts.Lost, h.Counts.Corrupted, h.Open)
	if res.server.held, err = serverStats("end of hold"); err != nil {
		return finish(err)
	}
	logf("server: %d open at the end of the hold", res.server.held.Open)

	if err := cli.Send("CLOSE"); err != nil {
		return finish(err)
	}
	if err := cli.ExpectJSON(ctx, "CLOSED", 10*time.Minute, progress, &res.client.closed); err != nil {
		return finish(err)
	}
	logf("client closed %d (%d errors) in %.1fs", res.client.closed.CloseOK, res.client.closed.CloseErrs, res.client.closed.Secs)
	t0 := time.Now()
	for {
		s, err := serverStats("after close")
		if err != nil {
			return finish(err)
		}
		res.server.after = s
		res.graceSecs = time.Since(t0).Seconds()
		if res.serverSettled() || time.Since(t0) > cfg.grace {
			break
		}
		time.Sleep(time.Second)
	}
	logf("server after close: %d open, %d goroutines (baseline %d), heap %s (baseline %s)",
		res.server.after.Open, res.server.after.Stats.Goroutines, res.server.baseline.Stats.Goroutines,
		mib(res.server.after.Stats.HeapInuse), mib(res.server.baseline.Stats.HeapInuse))
	return finish(nil)
}
