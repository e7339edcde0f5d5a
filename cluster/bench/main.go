// Command bench measures cluster fan-out: nodes × conns WebSocket
// subscribers to one topic, 1 to 3 nodes on NATS, beside the same number
// of connections on one node with Server.Broadcast. For each message it
// takes the time from the publisher's stamp to the last subscriber's
// receive, and it reports p50/p99 of that and the messages delivered per
// second. With -md it writes the results as Markdown (cluster/RESULTS.md
// is made so).
//
//	go run ./bench -conns 5000 -msgs 200 -md RESULTS.md
//
// The bench re-executes itself: every node is its own process (one
// descriptor per connection, so 3 × conns on the Broadcast node), the
// clients of each node are one process, and nats-server runs embedded in
// the parent. Every process raises its soft open-file limit to the hard
// one. The stamp and the receive times are wall-clock (time.Now) in
// different processes on the same machine, so they share the kernel's
// real-time clock.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

type result struct {
	name          string
	nodes, conns  int // conns is the total
	clients       int // client processes
	msgs          int // messages measured
	p50, p99      time.Duration
	deliveredRate float64
	nodeCPU       time.Duration // all nodes, over the measured messages
	clientCPU     time.Duration // all client processes, likewise
}

func main() {
	if os.Getenv(childEnv) == "1" {
		os.Exit(childMain(os.Args[1:]))
	}
	conns := flag.Int("conns", 5000, "connections per node (the Broadcast node holds 3 × conns)")
	msgs := flag.Int("msgs", 200, "messages per setup")
	maxDur := flag.Duration("maxdur", time.Minute, "stop a setup's messages after this long (the table says how many were sent)")
	size := flag.Int("size", 64, "message size in bytes (at least 28)")
	md := flag.String("md", "", "write the results as Markdown to this file")
	flag.Parse()
	if *size < payloadHead {
		log.Fatalf("bench: -size must be at least %d", payloadHead)
	}
	if *msgs < 1 || *conns < 1 {
		log.Fatal("bench: -msgs and -conns must be positive")
	}
	limit := raiseNoFile()
	if limit != 0 && uint64(3**conns+200) > limit {
		log.Fatalf("bench: the Broadcast node needs 3 × %d descriptors and the open-file limit is %d", *conns, limit)
	}
	exe, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	loadStart := loadAvg()
	ns, err := startNATS()
	if err != nil {
		log.Fatal(err)
	}
	defer ns.Shutdown()
	cfg := config{exe: exe, natsURL: ns.ClientURL(), conns: *conns, msgs: *msgs, size: *size, maxDur: *maxDur}
	setups := []setup{{"one node, Server.Broadcast", 1, 3, true}}
	for nodes := 1; nodes <= 3; nodes++ {
		setups = append(setups, setup{fmt.Sprintf("cluster, %d node(s) on NATS", nodes), nodes, nodes, false})
	}
	var results []result
	for _, s := range setups {
		log.Printf("%s: %d connections", s.name, s.clients**conns)
		r, err := cfg.run(s)
		if err != nil {
			ns.Shutdown()
			log.Fatalf("%s: %v", s.name, err)
		}
		log.Printf("%s: %d messages, p50 %v, p99 %v, %.0f delivered/s", s.name, r.msgs, r.p50, r.p99, r.deliveredRate)
		results = append(results, r)
	}
	out := report(results, *conns, *msgs, *size, *maxDur, loadStart, loadAvg())
	fmt.Print(out)
	if *md != "" {
		if err := os.WriteFile(*md, []byte("# Cluster fan-out benchmark\n\n"+out), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

// startNATS runs an embedded nats-server on a free loopback port.
func startNATS() (*server.Server, error) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		return nil, err
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("nats-server did not start")
	}
	return ns, nil
}

type config struct {
	exe, natsURL string
	conns, msgs  int
	size         int
	maxDur       time.Duration
}

// setup is one line of the table: nodes node processes (in Broadcast
// mode, one node) and clients client processes of conns connections
// each, client process i dialing node i mod nodes.
type setup struct {
	name           string
	nodes, clients int
	broadcast      bool
}

// run starts the setup's processes, measures and stops them.
func (cfg config) run(s setup) (result, error) {
	var nodes, clients []*child
	defer func() {
		// Clients first: the nodes then see their peers go.
		for _, c := range clients {
			c.stop()
		}
		for _, c := range nodes {
			c.stop()
		}
	}()
	mode := "cluster"
	if s.broadcast {
		mode = "broadcast"
	}
	var addrs []string
	for i := range s.nodes {
		c, err := startChild(cfg.exe, fmt.Sprintf("node %d", i), "node", "-mode", mode, "-nats", cfg.natsURL, "-size", strconv.Itoa(cfg.size))
		if err != nil {
			return result{}, err
		}
		nodes = append(nodes, c)
		addr, err := c.expect("LISTEN", 30*time.Second)
		if err != nil {
			return result{}, err
		}
		addrs = append(addrs, addr)
	}
	for i := range s.clients {
		c, err := startChild(cfg.exe, fmt.Sprintf("client %d", i), "client", "-addr", addrs[i%len(addrs)],
			"-conns", strconv.Itoa(cfg.conns), "-msgs", strconv.Itoa(cfg.msgs))
		if err != nil {
			return result{}, err
		}
		clients = append(clients, c)
	}
	for _, c := range clients {
		if _, err := c.expect("READY", 5*time.Minute); err != nil {
			return result{}, err
		}
	}
	// Warm up: until a message from the publishing node reaches everyone,
	// the other nodes' bus subscriptions may not be in place.
	warm := make([]bool, len(clients))
	for deadline := time.Now().Add(time.Minute); !all(warm); {
		if time.Now().After(deadline) {
			return result{}, errors.New("a warm-up message did not reach every connection within a minute")
		}
		if err := nodes[0].send("WARM"); err != nil {
			return result{}, err
		}
		for i, c := range clients {
			if warm[i] {
				continue
			}
			_, err := c.expect("WARM", 200*time.Millisecond)
			if err != nil && !errors.Is(err, errNoLine) {
				return result{}, err
			}
			warm[i] = err == nil
		}
	}
	procs := append(slices.Clone(nodes), clients...)
	cpu0, err := cpuTimes(procs)
	if err != nil {
		return result{}, err
	}
	var lat []time.Duration
	start := time.Now()
	for seq := 0; seq < cfg.msgs && time.Since(start) < cfg.maxDur; seq++ {
		// One message in flight: the latency is the fan-out's, not a queue's.
		if err := nodes[0].send("PUB " + strconv.Itoa(seq)); err != nil {
			return result{}, err
		}
		if _, err := nodes[0].expect("SENT", 30*time.Second); err != nil {
			return result{}, err
		}
		var stamp, last int64
		for _, c := range clients {
			var g got
			if err := c.expectJSON("GOT", 30*time.Second, &g); err != nil {
				return result{}, fmt.Errorf("message %d: %w", seq, err)
			}
			if g.Seq != seq {
				return result{}, fmt.Errorf("%s: GOT %d, want %d", c.name, g.Seq, seq)
			}
			stamp, last = g.Stamp, max(last, g.Last)
		}
		lat = append(lat, time.Duration(last-stamp))
	}
	elapsed := time.Since(start)
	cpu1, err := cpuTimes(procs)
	if err != nil {
		return result{}, err
	}
	slices.Sort(lat)
	total := s.clients * cfg.conns
	r := result{name: s.name, nodes: s.nodes, conns: total, clients: s.clients, msgs: len(lat),
		p50: lat[len(lat)/2], p99: lat[len(lat)*99/100],
		deliveredRate: float64(len(lat)*total) / elapsed.Seconds()}
	for i := range procs {
		d := time.Duration(cpu1[i] - cpu0[i])
		if i < len(nodes) {
			r.nodeCPU += d
		} else {
			r.clientCPU += d
		}
	}
	return r, nil
}

func all(b []bool) bool { return !slices.Contains(b, false) }

// cpuTimes asks each process for the CPU time it has used.
func cpuTimes(procs []*child) ([]int64, error) {
	ns := make([]int64, len(procs))
	for i, c := range procs {
		var err error
		if ns[i], err = c.cpu(); err != nil {
			return nil, err
		}
	}
	return ns, nil
}

// report formats the results as the Markdown body of RESULTS.md.
func report(results []result, conns, msgs, size int, maxDur time.Duration, loadStart, loadEnd string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Generated by `go run ./bench -conns %d -msgs %d -size %d -maxdur %v` on %s/%s, %d cores (GOMAXPROCS %d in every process), loopback only.  \n",
		conns, msgs, size, maxDur, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	if rev := gitDescribe(); rev != "" {
		fmt.Fprintf(&b, "Code: %s.  \n", rev)
	}
	fmt.Fprintf(&b, "Load average at start: %s; at end: %s (the machine was shared with other work).\n\n", loadStart, loadEnd)
	b.WriteString("| setup | nodes | connections | client processes | messages | p50 publish→last receive | p99 | messages delivered/s | CPU s: nodes / clients |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %v | %v | %.0f | %.1f / %.1f |\n", r.name, r.nodes, r.conns, r.clients, r.msgs,
			r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.deliveredRate, r.nodeCPU.Seconds(), r.clientCPU.Seconds())
	}
	if len(results) == 4 {
		one, three := results[1], results[3]
		fmt.Fprintf(&b, "\nFrom 1 to 3 nodes (%d to %d connections): delivered/s ×%.2f, p50 ×%.2f. "+
			"Three nodes against one Broadcast node at %d connections: delivered/s ×%.2f, p50 ×%.2f.\n",
			one.conns, three.conns, three.deliveredRate/one.deliveredRate, ratio(three.p50, one.p50),
			three.conns, three.deliveredRate/results[0].deliveredRate, ratio(three.p50, results[0].p50))
	}
	fmt.Fprintf(&b, "\n"+
		"Every node is its own process holding one descriptor per connection (the Broadcast node %d), the\n"+
		"clients of each node are one process of %d connections (the Broadcast node's are three), and\n"+
		"nats-server runs embedded in the parent, which drives the run over pipes. Each message is sent\n"+
		"after the previous one reached every connection, so the latency is the fan-out's own and\n"+
		"\"delivered/s\" is bounded by it and by the round trip through the parent; a setup stops after\n"+
		"-msgs messages or -maxdur, whichever comes first. The publishing node stamps each message with\n"+
		"time.Now().UnixNano() and the client processes report their receive times the same way: the\n"+
		"wall clock is the clock these processes share on one machine. Nodes, clients and nats-server\n"+
		"share the same %d cores, so the numbers compare the setups with each other; they are not a\n"+
		"capacity figure. The CPU column is the user + system time of the node and of the client\n"+
		"processes over the measured messages.\n",
		3*conns, conns, runtime.NumCPU())
	return b.String()
}

// gitDescribe returns `git describe --always --dirty` of the tree the
// bench runs in, or "" when git cannot tell.
func gitDescribe() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
