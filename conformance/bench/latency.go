package main

// The latency benchmark: round trips over one connection (-lconns) of
// small messages (-lsizes), in two parts or more. In the first each
// library's client drives its own server, as in the echo benchmark; in
// the second one client (-client) drives every server, so that the
// servers alone differ; with -gcoff a further part repeats the first with
// every server's garbage collector off, and with -busy one repeats it
// beside a CPU-bound process; with -pin two parts repeat it with server
// and client pinned to one CPU, then to two different CPUs. Each wsio
// server shape's figures are divided by the better of
// gorilla's and coder's, the target being at least 1.0 on the median of
// at least latencyMinRounds rounds, and every round's figures are shown
// beside the medians.

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// latencyClientNames are the values -client takes: the WebSocket clients
// that can drive every server (raw is wsRawLib).
var latencyClientNames = []string{"gorilla", "coder", "gws", "gobwas", "wsio", "raw"}

// latencyClient returns the library whose client -client name selects,
// or nil.
func latencyClient(name string) *library {
	switch name {
	case "raw":
		return wsRawLib
	case "gorilla", "coder", "gws", "gobwas", "wsio":
		return libByName(name)
	}
	return nil
}

// latencyMinRounds is the number of rounds the latency target's medians
// must rest on; fewer only warn (-quick runs one).
const latencyMinRounds = 5

// latencyBestOf are the libraries whose better figure every wsio server
// shape is compared to.
var latencyBestOf = []string{"gorilla", "coder"}

// latencyPart is one half of the latency benchmark: its tables and the
// client driving each server.
type latencyPart struct {
	name            string // for failures and -v
	client          string // the client library for every WebSocket server; "" for each server's own
	gcOff           bool   // every server runs with its garbage collector off
	busy            bool   // a CPU-bound process runs beside each pair
	pinned          bool   // server and client run on the CPUs in cpus
	cpus            [2]int // the server's CPU and the client's, when pinned
	rate, cpu, scpu *table
	idle            *table // the machine's CPU idle entries per round trip
}

// clientFor returns the client library measuring the server of lib. Raw
// TCP speaks no WebSocket, so its own client always measures it.
func (p *latencyPart) clientFor(lib string) string {
	if p.client == "" || lib == rawLib.name {
		return lib
	}
	return p.client
}

func (r *runner) latency() error {
	cfg := r.cfg
	if cfg.rounds < latencyMinRounds {
		fmt.Fprintf(r.log, "bench: warning: latency with -rounds %d: its target asks for the median of at least %d rounds\n",
			cfg.rounds, latencyMinRounds)
	}
	cols := r.withHTTP()
	cli := latencyClient(cfg.latClient)
	rounds := fmt.Sprintf("median of %d round", cfg.rounds)
	if cfg.rounds != 1 {
		rounds += "s"
	}
	common := fmt.Sprintf("one %s client for every server", cfg.latClient)
	parts := []*latencyPart{
		{name: "own client"},
		{name: common, client: cli.name},
	}
	if cfg.latGCOff {
		parts = append(parts, &latencyPart{name: "own client, servers' GC off", gcOff: true})
	}
	if cfg.latBusy {
		parts = append(parts, &latencyPart{name: "own client, beside a CPU-bound process", busy: true})
	}
	if cfg.latPin {
		parts = append(parts, &latencyPart{name: "own client, both on one CPU", pinned: true, cpus: [2]int{0, 0}})
		if runtime.NumCPU() > 1 {
			parts = append(parts, &latencyPart{name: "own client, on two CPUs", pinned: true, cpus: [2]int{0, 1}})
		}
	}
	for _, p := range parts {
		who := "each library's own client"
		if p.client != "" {
			who = common
		}
		if p.gcOff {
			who += ", every server with its garbage collector off (GOGC=off)"
		}
		if p.busy {
			who += ", beside a CPU-bound process"
		}
		if p.pinned {
			who += fmt.Sprintf(", server on CPU %d and client on CPU %d", p.cpus[0], p.cpus[1])
		}
		p.rate = r.report.table("latency", fmt.Sprintf("Latency, %s: round trips per second, %s (higher is better)", who, rounds), "msg/s", true)
		p.cpu = r.report.table("latency", fmt.Sprintf("Latency, %s: CPU time per round trip, µs, client + server processes, %s (lower is better)", who, rounds), "µs", false)
		p.scpu = r.report.table("latency", fmt.Sprintf("Latency, %s: server CPU time per round trip, µs, %s (lower is better)", who, rounds), "µs", false)
		p.idle = r.report.table("latency", fmt.Sprintf("Latency, %s: CPU idle entries per round trip, whole machine, %s", who, rounds), "", false)
		for _, t := range []*table{p.rate, p.cpu, p.scpu, p.idle} {
			t.cols, t.bestOf = cols, latencyBestOf
			for _, conns := range cfg.latConns {
				for _, size := range cfg.latSizes {
					t.addRow(echoRow(conns, size))
				}
			}
		}
		p.rate.byRound = true
		p.rate.note = latencyNote(cfg, p, who)
		p.cpu.note = "CPU time (user + system, getrusage) of both processes over the timed part, divided by the round trips. " +
			"best is the lower of gorilla's and coder's; x/best below 1 means less CPU than the best."
		p.scpu.note = "The server process's CPU time alone over the timed part, divided by the round trips. " +
			"best is the lower of gorilla's and coder's; x/best below 1 means less CPU than the best."
		p.idle.note = "How many times the machine's CPUs went idle (Linux cpuidle: every state's usage count, " +
			"all CPUs) over the timed part, divided by the round trips. A process that goes idle between messages " +
			"pays a CPU's wake-up for the next one, which on a virtual machine that halts idle vCPUs costs more than the round trip's work."
	}
	for round := 1; round <= cfg.rounds; round++ {
		for _, p := range parts {
			for _, conns := range cfg.latConns {
				for _, size := range cfg.latSizes {
					row := echoRow(conns, size)
					for _, lib := range rotated(cols, round) {
						if r.ctx.Err() != nil {
							return r.ctx.Err()
						}
						var srvArgs []string
						cliArgs := []string{
							"-conns", strconv.Itoa(conns), "-size", strconv.Itoa(size), "-dur", cfg.echoDur.String(),
						}
						if p.gcOff {
							srvArgs = []string{"-gcoff"}
						}
						if p.pinned {
							srvArgs = append(srvArgs, "-cpu", strconv.Itoa(p.cpus[0]))
							cliArgs = append(cliArgs, "-cpu", strconv.Itoa(p.cpus[1]))
						}
						var spin *child
						if p.busy {
							var err error
							if spin, err = startChild(r.exe, "spin", "spin"); err != nil {
								r.fail("latency, "+p.name+", "+row, lib, err)
								continue
							}
						}
						res, err := r.pairOf(lib, p.clientFor(lib), "echo", srvArgs, cliArgs, cfg.echoDur+2*time.Minute, false)
						if spin != nil {
							spin.Stop()
						}
						if err == nil && res.Ops == 0 {
							err = fmt.Errorf("no round trip completed in %v", cfg.echoDur)
						}
						if err != nil {
							r.fail("latency, "+p.name+", "+row, lib, err)
							continue
						}
						ops := float64(res.Ops)
						v := ops / res.Secs
						p.rate.addRound(row, lib, round, v)
						p.cpu.add(row, lib, res.cpuUs(ops))
						p.scpu.add(row, lib, float64(res.serverCPUNs)/1e3/ops)
						if res.idleEntries >= 0 {
							p.idle.add(row, lib, float64(res.idleEntries)/ops)
						}
						r.progress("latency %s %s %s round %d: %.0f msg/s", p.name, row, lib, round, v)
					}
				}
			}
		}
	}
	for _, p := range parts {
		r.printTable(p.rate)
		r.printTable(p.cpu)
		r.printTable(p.scpu)
		r.printTable(p.idle)
	}
	return nil
}

// latencyNote is the note under the round-trip table of part p.
func latencyNote(cfg *config, p *latencyPart, who string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "One client connection sends one binary message, waits for its echo, repeats, for %v per round; "+
		"round trips per second. Client: %s", cfg.echoDur, who)
	if p.client != "" {
		if p.client == wsRawLib.name {
			b.WriteString(" (ws-raw, written on RFC 6455 alone: see the end of this report)")
		}
		b.WriteString(", so the servers alone differ; the raw column is raw TCP with its own length-prefixed client, " +
			"as it speaks no WebSocket")
	}
	fmt.Fprintf(&b, ". Each round measures every library once, in an order rotated by one library from round to round. "+
		"best is the better of %s in each line, and x/best divides each wsio server "+
		"shape's figure by it: the target is 1.00 or above on the median of at least %d rounds. "+
		"These tables hold the median of %d.", strings.Join(latencyBestOf, " and "), latencyMinRounds, cfg.rounds)
	if p.gcOff {
		b.WriteString(" The control for the other tables: a process whose collector runs in the background between " +
			"messages is not idle when the next message arrives, and one that allocates nothing (wsio, raw TCP) is; " +
			"with every collector off all servers wait the same way.")
	}
	if p.busy {
		b.WriteString(" A second control: a process spinning on one CPU runs beside each pair, so no CPU halts between " +
			"messages and the round trip costs what the code costs, not what waking an idle CPU costs.")
	}
	if p.pinned && p.cpus[0] == p.cpus[1] {
		b.WriteString(" A third control: server and client share one CPU, so each wake-up is a switch on that CPU " +
			"and no CPU halts; the round trip costs what the two processes' code costs.")
	}
	if p.pinned && p.cpus[0] != p.cpus[1] {
		b.WriteString(" The other side of that control: server and client each on a CPU of its own, so every message " +
			"wakes the other CPU, which has halted meanwhile. Unpinned, the scheduler places the pair either way " +
			"from round to round, which is why the first tables' rounds spread so widely.")
	}
	if cfg.rounds < latencyMinRounds {
		fmt.Fprintf(&b, " **Fewer rounds than the target asks for.**")
	}
	return b.String()
}
