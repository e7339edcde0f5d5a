package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wsio/wsio/conformance/internal/proc"
)

// result is everything a run measured.
type result struct {
	cfg       *config
	start     time.Time
	took      time.Duration
	loadStart string
	loadEnd   string
	runErr    error // the run could not be completed
	graceSecs float64
	checks    []check
	server    serverSide
	client    clientSide
	gBytes    float64 // heap bytes the runtime keeps per goroutine that ever ran, see goroutineRetention
	tree      string  // git describe of the wsio tree at the start
}

// serverSide holds the server's STATS answers.
type serverSide struct {
	baseline, connected, held, after serverReport
	samples                          []serverReport // under load, every -sample
}

// clientSide holds the client's reports.
type clientSide struct {
	connected connectedReport
	held      heldReport
	closed    closedReport
}

// check is one pass/fail criterion.
type check struct {
	what, want, got string
	ok              bool
}

// newResult starts a result at the start of the run.
func newResult(cfg *config) *result {
	tree := proc.GitDescribe()
	if tree == "" {
		tree = "?"
	}
	return &result{cfg: cfg, start: time.Now(), loadStart: proc.LoadAvg(), tree: tree}
}

// Lost, Corrupted and the other accessors are what the tests look at.

// Lost is the number of messages that did not come back.
func (r *result) Lost() int64 { return r.client.held.Counts.Lost }

// Corrupted is the number of echoes whose length or SHA-256 differed.
func (r *result) Corrupted() int64 { return r.client.held.Counts.Corrupted }

// OK is the number of messages echoed intact.
func (r *result) OK() int64 { return r.client.held.Counts.OK }

// serverSettled tells whether the server is back to its baseline.
func (r *result) serverSettled() bool {
	a, b := r.server.after, r.server.baseline
	return a.Open == 0 && a.Handlers == 0 &&
		a.Stats.Goroutines <= b.Stats.Goroutines+r.cfg.goroutineTol &&
		int64(a.Stats.HeapInuse) <= int64(b.Stats.HeapInuse)+r.heapAllowance()
}

// retainedDescriptors estimates the heap the Go runtime keeps after the
// close for the server's goroutine descriptors: its figure per goroutine
// times the goroutines above the baseline at the peak.
func (r *result) retainedDescriptors() int64 {
	extra := r.server.after.PeakGoroutines - int64(r.server.baseline.Stats.Goroutines)
	return int64(r.gBytes * float64(max(extra, 0)))
}

// heapAllowance is how far above its baseline the server's heap may be
// after the close: -heap-tolerance plus the retained goroutine descriptors.
func (r *result) heapAllowance() int64 {
	return r.cfg.heapTol + r.retainedDescriptors()
}

// finish records the end of the run and judges it.
func (r *result) finish(runErr error) {
	r.took = time.Since(r.start)
	r.loadEnd = proc.LoadAvg()
	r.runErr = runErr
	cfg := r.cfg
	n := cfg.conns
	add := func(what, want, got string, ok bool) {
		r.checks = append(r.checks, check{what: what, want: want, got: got, ok: ok})
	}
	if runErr != nil {
		add("the run completed", "yes", oneLine(runErr.Error()), false)
		return
	}
	cc, ch, cl := r.client.connected, r.client.held, r.client.closed
	sh, sa, sb := r.server.held, r.server.after, r.server.baseline
	add("connections established", num(n), fmt.Sprintf("%s (%s failed)", num(cc.Established), num(cc.Failed)),
		cc.Established == n && cc.Failed == 0)
	add("open at the end of the hold, client side", num(n), num(ch.Open), ch.Open == n)
	add("open at the end of the hold, server side", num(n), fmt.Sprintf("%s (%s handlers running)", num(sh.Open), num64(sh.Handlers)),
		sh.Open == n && sh.Handlers == int64(n))
	add("connections ended during the hold", "0", fmt.Sprintf("%s (%s by keepalive) client side; %s by keepalive, %s otherwise server side",
		num64(ch.Dropped), num64(ch.KeepaliveDrops), num64(sh.KeepaliveErrs), num64(sh.OtherErrs)),
		ch.Dropped == 0 && sh.KeepaliveErrs == 0 && sh.OtherErrs == 0)
	add("messages echoed intact", num(cfg.messages), num64(ch.Counts.OK), ch.Counts.OK == int64(cfg.messages))
	add("lost messages", "0", num64(ch.Counts.Lost), ch.Counts.Lost == 0)
	add("corrupted messages", "0", num64(ch.Counts.Corrupted), ch.Counts.Corrupted == 0)
	add("unexpected messages (echoes nobody waited for, text)", "0", fmt.Sprintf("%s client, %s server", num64(ch.Unexpected), num64(sh.TextMessages)),
		ch.Unexpected == 0 && sh.TextMessages == 0)
	add("hold duration", "≥ "+cfg.hold.String(), secs(ch.HoldSecs), ch.HoldSecs >= cfg.hold.Seconds())
	if cfg.keepalive > 0 && cfg.hold >= 2*cfg.keepalive {
		add("keepalive ran (pongs to each side's pings)", "> 0 each side", fmt.Sprintf("%s client, %s server", num64(ch.PongsIn), num64(sh.PongsIn)),
			ch.PongsIn > 0 && sh.PongsIn > 0)
	}
	add("client closes acknowledged (1000)", num(cc.Established), fmt.Sprintf("%s (%s errors, %s readers ended otherwise, %s still reading)",
		num(cl.CloseOK), num(cl.CloseErrs), num(cl.BadEnds), num(cl.ReadersLeft)),
		cl.CloseOK == cc.Established && cl.CloseErrs == 0 && cl.BadEnds == 0 && cl.ReadersLeft == 0)
	add("server saw the client's 1000", num(cc.Established), num64(sa.CleanCloses), sa.CleanCloses == int64(cc.Established))
	add("server open after close", "0", fmt.Sprintf("%s (%s handlers)", num(sa.Open), num64(sa.Handlers)), sa.Open == 0 && sa.Handlers == 0)
	add("server goroutines after close", fmt.Sprintf("≤ %d (baseline %d + %d)", sb.Stats.Goroutines+cfg.goroutineTol, sb.Stats.Goroutines, cfg.goroutineTol),
		strconv.Itoa(sa.Stats.Goroutines), sa.Stats.Goroutines <= sb.Stats.Goroutines+cfg.goroutineTol)
	add("server heap in use after close", fmt.Sprintf("≤ %s (baseline %s + %s tolerance + %s goroutine descriptors the runtime keeps: %s × %.0f B)",
		mib(sb.Stats.HeapInuse+uint64(r.heapAllowance())), mib(sb.Stats.HeapInuse), mib(uint64(cfg.heapTol)),
		mib(uint64(r.retainedDescriptors())), num64(max(sa.PeakGoroutines-int64(sb.Stats.Goroutines), 0)), r.gBytes),
		mib(sa.Stats.HeapInuse), int64(sa.Stats.HeapInuse) <= int64(sb.Stats.HeapInuse)+r.heapAllowance())
	add("client goroutines after close", fmt.Sprintf("≤ %d (baseline %d + %d)", cc.Baseline.Goroutines+cfg.goroutineTol, cc.Baseline.Goroutines, cfg.goroutineTol),
		strconv.Itoa(cl.Stats.Goroutines), cl.Stats.Goroutines <= cc.Baseline.Goroutines+cfg.goroutineTol)
}

// failedChecks lists the checks that failed.
func (r *result) failedChecks() []string {
	var out []string
	for _, c := range r.checks {
		if !c.ok {
			out = append(out, fmt.Sprintf("%s: want %s, got %s", c.what, c.want, c.got))
		}
	}
	return out
}

// markdown renders the report.
func (r *result) markdown() string {
	cfg := r.cfg
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	verdict := "PASS"
	if len(r.failedChecks()) > 0 {
		verdict = "FAIL"
	}
	p("# wsio soak: %s connections, %s messages, hold ≥ %v — %s\n\n", num(cfg.conns), num(cfg.messages), cfg.hold, verdict)
	p("<!-- generated by conformance/soak; do not edit by hand -->\n\n")
	p("Command (from `conformance/`): `%s`  \n", proc.CommandLine("go run ./soak", r.cfg.args))
	p("Run: %s, took %s  \n", r.start.UTC().Format("2006-01-02 15:04 UTC"), r.took.Round(time.Second))
	p("Machine: %s; load average at start: %s; at end: %s  \n", proc.Machine(), r.loadStart, r.loadEnd)
	p("wsio: this tree at %s (git describe at the start; -dirty: uncommitted changes, as built)  \n", r.tree)
	gmp := "Go's default"
	if cfg.gomaxprocs > 0 {
		gmp = strconv.Itoa(cfg.gomaxprocs)
	}
	st := r.client.connected.Stats
	p("Children: GOMAXPROCS=%s (the server reported %d, the client %d); RLIMIT_NOFILE soft/hard %d/%d (server), %d/%d (client)  \n",
		gmp, r.server.baseline.Stats.GOMAXPROCS, st.GOMAXPROCS,
		r.server.baseline.Stats.NoFileSoft, r.server.baseline.Stats.NoFileHard, st.NoFileSoft, st.NoFileHard)
	p("Settings: keepalive interval %v, timeout %v, both sides; %d workers; sizes %s %s – %s; seed %d; %d dials in flight, "+
		"client sources 127.0.0.%d–127.0.0.%d; echo timeout %v\n\n",
		cfg.keepalive, cfg.keepaliveTimeout, cfg.workers, cfg.dist, size(int64(cfg.minSize)), size(int64(cfg.maxSize)), cfg.seed,
		cfg.dialParallel, firstSource, firstSource+numSources-1, cfg.echoTimeout)
	if cfg.corruptEvery > 0 || cfg.dropEvery > 0 {
		p("**Fault injection on** (-corrupt-every %d, -drop-every %d): the server flipped a bit in or dropped %s messages.\n\n",
			cfg.corruptEvery, cfg.dropEvery, num64(r.server.after.Injected))
	}

	p("## Checks\n\n| check | want | got | |\n|---|---|---|---|\n")
	for _, c := range r.checks {
		mark := "ok"
		if !c.ok {
			mark = "**FAIL**"
		}
		p("| %s | %s | %s | %s |\n", c.what, c.want, c.got, mark)
	}
	p("\n")
	if r.runErr != nil {
		p("The run did not complete: `%s`\n\n", oneLine(r.runErr.Error()))
	}

	cc, ch, cl := r.client.connected, r.client.held, r.client.closed
	sc, sh, sa, sb := r.server.connected, r.server.held, r.server.after, r.server.baseline
	p("## Connections\n\n| | |\n|---|---|\n")
	rate := 0.0
	if cc.Secs > 0 {
		rate = float64(cc.Established) / cc.Secs
	}
	p("| established | %s of %s, %s failed, in %s (%s/s) |\n", num(cc.Established), num(cfg.conns), num(cc.Failed), secs(cc.Secs), num(int(rate)))
	p("| open at the end of the hold | client %s, server %s |\n", num(ch.Open), num(sh.Open))
	p("| ended during the hold | %s (keepalive: %s) |\n", num64(ch.Dropped), num64(ch.KeepaliveDrops))
	p("| keepalive pongs received (answers to this side's pings) | client %s, server %s |\n", num64(ch.PongsIn), num64(sh.PongsIn))
	p("| keepalive pings received and answered | client %s, server %s |\n", num64(ch.PingsIn), num64(sh.PingsIn))
	p("| close | client Close with 1000: %s acknowledged, %s errors, in %s; server saw 1000: %s |\n",
		num(cl.CloseOK), num(cl.CloseErrs), secs(cl.Secs), num64(sa.CleanCloses))
	p("| server back to baseline | %s after the close (grace ≤ %v) |\n\n", secs(r.graceSecs), cfg.grace)

	p("## Messages\n\n| | |\n|---|---|\n")
	cnt := ch.Counts
	p("| messages | %s sent, %s echoed intact, %s lost, %s corrupted |\n", num64(cnt.Done), num64(cnt.OK), num64(cnt.Lost), num64(cnt.Corrupted))
	mean := 0.0
	if cnt.Done > 0 {
		mean = float64(cnt.Bytes) / float64(cnt.Done)
	}
	p("| payload | %s each way (mean %s per message); the server echoed %s in %s messages |\n",
		size(cnt.Bytes), size(int64(mean)), size(sh.EchoedBytes), num64(sh.Echoed))
	if ch.MsgSecs > 0 {
		p("| message phase | %s: **%s msgs/s**, **%.1f MB/s each way** (%.1f MB/s both ways) |\n",
			secs(ch.MsgSecs), num(int(float64(cnt.Done)/ch.MsgSecs)), float64(cnt.Bytes)/ch.MsgSecs/1e6, 2*float64(cnt.Bytes)/ch.MsgSecs/1e6)
	}
	if len(ch.RTTms) == 4 {
		p("| echo round trip (send start → echo hashed) | p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms |\n", ch.RTTms[0], ch.RTTms[1], ch.RTTms[2], ch.RTTms[3])
	}
	p("| hold | %s (at least %v; idle with keepalive once the messages were done) |\n\n", secs(ch.HoldSecs), cfg.hold)
	if len(ch.Classes) > 0 {
		p("Messages per size class:\n\n| size | messages | share |\n|---|---:|---:|\n")
		for i, n := range ch.Classes {
			if n == 0 {
				continue
			}
			lo := int64(1) << i
			label := fmt.Sprintf("%s ≤ size < %s", size(lo), size(2*lo))
			switch {
			case i == numClasses-1:
				label = fmt.Sprintf("%s ≤ size ≤ %s", size(lo), size(int64(cfg.maxSize)))
			case i == 0:
				label = "1 B"
			}
			p("| %s | %s | %.1f%% |\n", label, num64(n), 100*float64(n)/float64(max(cnt.Done, 1)))
		}
		p("\n")
	}

	p("## Processes\n\n")
	p("Heap is `runtime.MemStats.HeapInuse` read after two `debug.FreeOSMemory` calls (a GC each, so sync.Pool caches "+
		"are emptied too); \"sampled\" peaks are read every second without a GC. RSS peak is VmHWM from /proc/self/status, "+
		"CPU time is getrusage user + system. The Go runtime never frees a goroutine's descriptor (runtime.g): it keeps every one it "+
		"allocated for reuse, so after the close the heap still holds about one per goroutine at the peak (%.0f B each, "+
		"measured in the parent by starting and ending 10,000 goroutines); that is not memory held by a connection and is "+
		"subtracted before the comparison with the baseline.\n\n", r.gBytes)
	p("| | server | client |\n|---|---:|---:|\n")
	peakHeap := sc.Stats.HeapInuse
	for _, s := range append(r.server.samples, sh) {
		peakHeap = max(peakHeap, s.Stats.HeapInuse)
	}
	clientPeakHeap := max(cc.Stats.HeapInuse, ch.Stats.HeapInuse)
	p("| goroutines: baseline (before any connection) | %d | %d |\n", sb.Stats.Goroutines, cc.Baseline.Goroutines)
	p("| goroutines: all connected | %s | %s |\n", num(sc.Stats.Goroutines), num(cc.Stats.Goroutines))
	p("| goroutines: peak (sampled) | %s | %s |\n", num64(sa.PeakGoroutines), num64(cl.PeakGoroutines))
	p("| goroutines: end of hold | %s | %s |\n", num(sh.Stats.Goroutines), num(ch.Stats.Goroutines))
	p("| goroutines: after close | %d | %d |\n", sa.Stats.Goroutines, cl.Stats.Goroutines)
	p("| heap in use: baseline | %s | %s |\n", mib(sb.Stats.HeapInuse), mib(cc.Baseline.HeapInuse))
	p("| heap in use: all connected | %s | %s |\n", mib(sc.Stats.HeapInuse), mib(cc.Stats.HeapInuse))
	p("| heap in use: peak after GC (server: every %v under load) | %s | %s |\n", cfg.sampleEvery, mib(peakHeap), mib(clientPeakHeap))
	p("| heap in use: peak sampled (no GC, includes garbage) | %s | %s |\n", mib(sa.PeakHeapInuse), mib(cl.PeakHeapInuse))
	p("| heap in use: end of hold | %s | %s |\n", mib(sh.Stats.HeapInuse), mib(ch.Stats.HeapInuse))
	p("| heap in use: after close | %s | %s |\n", mib(sa.Stats.HeapInuse), mib(cl.Stats.HeapInuse))
	p("| heap in use: after close − baseline − retained goroutine descriptors (%.0f B × peak goroutines above baseline) | %s | %s |\n",
		r.gBytes, mibSigned(int64(sa.Stats.HeapInuse)-int64(sb.Stats.HeapInuse)-r.retainedDescriptors()),
		mibSigned(int64(cl.Stats.HeapInuse)-int64(cc.Baseline.HeapInuse)-int64(r.gBytes*float64(max(cl.PeakGoroutines-int64(cc.Baseline.Goroutines), 0)))))
	if cfg.conns > 0 {
		p("| heap per connection, all connected (− baseline) | %.1f KiB | %.1f KiB |\n",
			(float64(sc.Stats.HeapInuse)-float64(sb.Stats.HeapInuse))/1024/float64(cfg.conns),
			(float64(cc.Stats.HeapInuse)-float64(cc.Baseline.HeapInuse))/1024/float64(cfg.conns))
	}
	p("| RSS: all connected | %s | %s |\n", mib(uint64(sc.Stats.RSSKiB)<<10), mib(uint64(cc.Stats.RSSKiB)<<10))
	p("| **peak RSS (VmHWM)** | **%s** | **%s** |\n", mib(uint64(sa.Stats.HWMKiB)<<10), mib(uint64(cl.Stats.HWMKiB)<<10))
	p("| **CPU time, whole run** | **%s** | **%s** |\n", cpu(sa.Stats.CPUNs), cpu(cl.Stats.CPUNs))
	p("| CPU time: dialing / accepting | %s | %s |\n", cpu(sc.Stats.CPUNs-sb.Stats.CPUNs), cpu(cc.Stats.CPUNs-cc.Baseline.CPUNs))
	p("| CPU time: hold (messages + idle) | %s | %s |\n", cpu(sh.Stats.CPUNs-sc.Stats.CPUNs), cpu(ch.Stats.CPUNs-cc.Stats.CPUNs))
	p("| CPU time: close | %s | %s |\n", cpu(sa.Stats.CPUNs-sh.Stats.CPUNs), cpu(cl.Stats.CPUNs-ch.Stats.CPUNs))
	if cnt.Done > 0 {
		perMsg := float64(sh.Stats.CPUNs-sc.Stats.CPUNs+ch.Stats.CPUNs-cc.Stats.CPUNs) / float64(cnt.Done) / 1e3
		p("| CPU per message, both processes, hold | %.0f µs | |\n", perMsg)
	}
	p("\n")

	errs := func(who string, list []string) {
		if len(list) == 0 {
			return
		}
		p("%s:\n\n", who)
		for _, e := range list {
			p("- `%s`\n", oneLine(e))
		}
		p("\n")
	}
	if len(sa.Errors)+len(cc.Errors)+len(ch.Errors)+len(cl.Errors)+len(ch.Failures) > 0 {
		p("## Errors (the first %d of each kind)\n\n", maxErrors)
		errs("Server", sa.Errors)
		errs("Client, dialing", cc.Errors)
		errs("Client, hold", ch.Errors)
		errs("Client, close", cl.Errors)
		if len(ch.Failures) > 0 {
			p("Lost or corrupted messages:\n\n| message | connection | size | | detail |\n|---:|---:|---:|---|---|\n")
			for _, f := range ch.Failures {
				p("| %d | %d | %s | %s | %s |\n", f.Msg, f.Conn, num(f.Size), f.Kind, oneLine(f.Detail))
			}
			p("\n")
		}
	}

	p("## Method\n\n")
	p("Client and server are separate processes (the soak binary re-executes itself with `-role server` and " +
		"`-role client`) on the same machine, sharing its cores over loopback. The server is `wsio.NewServer` + `Serve` on a " +
		"127.0.0.1 listener; its handler reads with `Next` and echoes each binary message as it streams in (`BeginBinary` + " +
		"`io.Copy` from the `Message` reader), never holding a message whole. The client dials with `wsio.Dial` " +
		"(compression off), runs one reader goroutine per connection (`Next`, which keepalive needs to see pongs) that " +
		"SHA-256-hashes each echo as it streams in, and workers that each pick a random connection with no message in " +
		"flight and send one message through `BeginBinary`, generated from a ChaCha8 stream seeded by the message number " +
		"and hashed on the way out; a message is lost when the send fails or no echo comes back within the echo timeout " +
		"(or the connection ends), corrupted when the echo's length or SHA-256 differs.\n\n")
	p("Sizes are log-uniform by default: ln(size) is uniform between ln(min) and ln(max+1), rounded down, so every " +
		"power-of-two size class gets about the same number of messages and the mean is about 75 KiB for 1 B – 1 MiB. " +
		"A uniform draw (`-dist uniform`) averages 512 KiB: 1,000,000 messages would move 512 GiB each way, hours on a " +
		"2-core machine, nearly all of it in messages above 256 KiB.\n")
	return b.String()
}

// num formats n with thousands separators.
func num(n int) string { return num64(int64(n)) }

// num64 formats n with thousands separators.
func num64(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// mib formats a byte count in MiB.
func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// mibSigned formats a byte difference in MiB.
func mibSigned(n int64) string { return fmt.Sprintf("%+.1f MiB", float64(n)/(1<<20)) }

// size formats a byte count with the largest binary unit it reaches.
func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return trimZero(float64(n)/(1<<20)) + " MiB"
	case n >= 1<<10:
		return trimZero(float64(n)/(1<<10)) + " KiB"
	}
	return fmt.Sprintf("%d B", n)
}

// trimZero prints v with one decimal, or none when it is whole.
func trimZero(v float64) string {
	s := fmt.Sprintf("%.1f", v)
	return strings.TrimSuffix(s, ".0")
}

// secs formats seconds.
func secs(s float64) string {
	if s >= 120 {
		return fmt.Sprintf("%.0f s (%s)", s, time.Duration(s*float64(time.Second)).Round(time.Second))
	}
	return fmt.Sprintf("%.1f s", s)
}

// cpu formats a CPU time in ns as seconds.
func cpu(ns int64) string { return fmt.Sprintf("%.1f s", float64(ns)/1e9) }

// oneLine replaces line breaks with spaces and pipes (table separators)
// with a look-alike.
func oneLine(s string) string {
	return strings.NewReplacer("\n", " ", "\r", " ", "|", "¦").Replace(s)
}
