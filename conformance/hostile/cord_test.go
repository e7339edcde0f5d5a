package hostile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/internal/wstest"
)

// The "pulled cord" test (issue 7): a wsio server and a wsio client in two
// network namespaces joined by a veth pair, the link taken down in the
// middle of an idle connection so that packets vanish without a FIN or an
// RST. Keepalive must find the dead peer on both sides within
// KeepaliveInterval + KeepaliveTimeout, and both sides must release the
// connection entirely.
//
// A socket belongs to the network namespace of the thread that created it,
// so each side runs in a process of its own: the test binary re-executes
// itself under `ip netns exec` as TestCordHelper, with WSIO_CORD_ROLE set
// to "server" or "client". A child reads commands from stdin, one a line
// ("probe"; EOF means exit), and reports events on stdout, one JSON object
// a line after cordPrefix.

const (
	cordInterval = 1 * time.Second // KeepaliveInterval on both sides
	cordTimeout  = 1 * time.Second // KeepaliveTimeout on both sides
	// cordSlack is the scheduling allowance over interval + timeout.
	cordSlack = 1500 * time.Millisecond
	// cordControl is how long the healthy connection is left idle (apart
	// from keepalive) before it is probed: several intervals.
	cordControl = 4 * time.Second

	cordPrefix = "wsio-cord-event: "

	cordServerIP = "10.231.0.1"
	cordClientIP = "10.231.0.2"
)

// cordEvent is one line a child reports.
type cordEvent struct {
	Ev string `json:"ev"` // listening, accepted, ready, pong, probe, ended, released, failed
	At int64  `json:"at"` // wall clock, Unix nanoseconds

	Addr string `json:"addr,omitempty"` // listening: the server's address

	// probe, ended: the connection.
	State string `json:"state,omitempty"` // Conn.State()
	Pongs int64  `json:"pongs"`           // pongs seen (OnPong)
	Msgs  int    `json:"msgs"`            // text messages received
	Ended bool   `json:"ended"`           // Next has returned an error
	RTT   string `json:"rtt,omitempty"`   // ready, probe: echo round trip
	Fail  string `json:"fail,omitempty"`  // probe: a failed round trip

	// ended: Next's error.
	Err      string `json:"err,omitempty"`      // desc(err)
	ErrText  string `json:"errText,omitempty"`  // err.Error()
	Mismatch string `json:"mismatch,omitempty"` // checkCloseErr against 1006 + ErrKeepalive; "" = as documented
	Since    string `json:"since,omitempty"`    // time since the connection opened
	LastPong int64  `json:"lastPong"`           // wall clock of the last pong, Unix nanoseconds

	// released: what is left of the connection.
	Goroutines int    `json:"goroutines"`
	Baseline   int    `json:"baseline"`
	Len        int    `json:"len"`        // server: Server.Len()
	Sockets    int    `json:"sockets"`    // open socket descriptors
	SocketBase int    `json:"socketBase"` // ... before the connection
	Done       bool   `json:"done"`       // Conn.Done() is closed
	Waited     string `json:"waited,omitempty"`
	CloseErr   string `json:"closeErr,omitempty"`  // client: Close after Next failed
	CloseTook  string `json:"closeTook,omitempty"` // ... and how long it took
	CloseMatch bool   `json:"closeMatch"`          // ... its error matches wsio.ErrClosed
	Stacks     string `json:"stacks,omitempty"`    // goroutine dump when not released
}

var cordRuns atomic.Int64

// TestCord pulls the cord between a wsio server and a wsio client and
// checks that keepalive notices on both sides.
func TestCord(t *testing.T) {
	t.Parallel()
	r := record(t, "Keepalive", fmt.Sprintf("pulled cord: server and client in two network namespaces joined by a veth pair, KeepaliveInterval %v / KeepaliveTimeout %v on both; idle for %v (control), then the link is taken down (no FIN, no RST)", cordInterval, cordTimeout, cordControl))

	nets := cordNetns(t, r)

	srv := startCordChild(t, "server", nets.srvNS, "WSIO_CORD_LISTEN="+net.JoinHostPort(cordServerIP, "0"))
	ev := srv.mustWait(t, "listening", 15*time.Second)
	url := "ws://" + ev.Addr + "/"
	cli := startCordChild(t, "client", nets.cliNS, "WSIO_CORD_URL="+url)
	ready := cli.mustWait(t, "ready", 15*time.Second)
	srv.mustWait(t, "accepted", 5*time.Second)
	t.Logf("connected over the veth pair: %s, echo round trip %s", url, ready.RTT)

	// Control: the healthy connection stays open for several intervals,
	// keepalive pinging all along, and still carries messages.
	controlStart := time.Now()
	timer := time.NewTimer(cordControl)
	for waiting := true; waiting; {
		select {
		case <-timer.C:
			waiting = false
		case e, ok := <-srv.events:
			srv.checkControl(t, e, ok, controlStart)
		case e, ok := <-cli.events:
			cli.checkControl(t, e, ok, controlStart)
		}
	}
	srv.send(t, "probe")
	cli.send(t, "probe")
	sp := srv.mustWait(t, "probe", 5*time.Second)
	cp := cli.mustWait(t, "probe", 5*time.Second)
	controlOK := true
	minPongs := int64(cordControl/cordInterval) - 1
	t.Logf("control, %v idle: server state %s, %d pongs; client state %s, %d pongs, echo round trip %s%s", cordControl, sp.State, sp.Pongs, cp.State, cp.Pongs, cp.RTT, cp.Fail)
	for _, p := range []struct {
		side string
		ev   cordEvent
	}{{"server", sp}, {"client", cp}} {
		if p.ev.Ended || p.ev.State != "open" {
			t.Errorf("control: the %s's healthy connection was not open after %v idle: state %s (false positive)", p.side, cordControl, p.ev.State)
			controlOK = false
		}
		if p.ev.Pongs < minPongs {
			t.Errorf("control: the %s saw %d pongs in %v with KeepaliveInterval %v, want at least %d (is keepalive running?)", p.side, p.ev.Pongs, cordControl, cordInterval, minPongs)
			controlOK = false
		}
	}
	if cp.Fail != "" {
		t.Errorf("control: echo round trip after %v idle: %s", cordControl, cp.Fail)
		controlOK = false
	}

	// Pull the cord right after the client's next pong, the worst case
	// for detection: the next ping is a whole interval away. The server's
	// end of the veth pair goes down, so the client's end loses its
	// carrier; nothing is sent to either socket.
	if _, err := cli.wait("pong", 2*cordInterval+cordTimeout); errors.Is(err, errCordNoEvent) {
		t.Errorf("%v: pulling the cord without waiting for it", err)
	} else if err != nil {
		t.Fatal(err)
	}
	pullStart := time.Now()
	if out, err := exec.Command("ip", "-n", nets.srvNS, "link", "set", nets.srvDev, "down").CombinedOutput(); err != nil {
		t.Fatalf("taking the link down: %v: %s", err, out)
	}
	pullEnd := time.Now()

	// Each side's Next must fail within interval + timeout of the pull.
	limit := cordInterval + cordTimeout
	type side struct {
		name  string
		ended cordEvent
		after time.Duration
		rcvd  time.Duration // when the parent read the event
	}
	sides := []*side{{name: "server"}, {name: "client"}}
	for i, ch := range []*cordChild{srv, cli} {
		s := sides[i]
		e, err := ch.wait("ended", time.Until(pullStart.Add(limit+cordSlack+2*time.Second)))
		if err != nil {
			r.saw("**no detection**: the %s's Next had not returned %v after the link went down", s.name, time.Since(pullStart).Round(time.Millisecond))
			t.Fatalf("the %s's Next had not returned %v after the link went down (KeepaliveInterval %v + KeepaliveTimeout %v = %v, + %v slack): the dead peer was not detected: %v",
				s.name, time.Since(pullStart).Round(time.Millisecond), cordInterval, cordTimeout, limit, cordSlack, err)
		}
		s.ended = e
		s.after = time.Unix(0, e.At).Sub(pullStart)
		s.rcvd = time.Since(pullStart)
	}
	for _, s := range sides {
		e := s.ended
		sincePong := "no pong"
		if e.LastPong != 0 {
			sincePong = fmt.Sprintf("%v after its last pong", time.Duration(e.At-e.LastPong).Round(time.Millisecond))
		}
		t.Logf("%s: Next returned %v after the link went down (%s; `ip link set down` took %v; the parent read the event at %v): %s; state %s; %d pongs in all",
			s.name, s.after.Round(time.Millisecond), sincePong, pullEnd.Sub(pullStart).Round(time.Millisecond), s.rcvd.Round(time.Millisecond), e.ErrText, e.State, e.Pongs)
		if e.Mismatch != "" {
			t.Errorf("%s: Next's error: %s; want a *wsio.CloseError 1006 (local) wrapping wsio.ErrKeepalive", s.name, e.Mismatch)
		}
		if e.State != "closed" {
			t.Errorf("%s: State() after Next failed is %s, want closed", s.name, e.State)
		}
		if s.after > limit+cordSlack {
			t.Errorf("%s: detected %v after the link went down, want within KeepaliveInterval + KeepaliveTimeout = %v (+ %v slack)", s.name, s.after.Round(time.Millisecond), limit, cordSlack)
		}
		// A ping in flight when the cord was pulled expires at the
		// earliest KeepaliveTimeout after it was sent, less a round trip.
		if early := time.Unix(0, e.At).Sub(pullEnd); early < cordTimeout-250*time.Millisecond {
			t.Errorf("%s: Next failed %v after the link went down, sooner than KeepaliveTimeout %v allows: not a keepalive detection", s.name, early.Round(time.Millisecond), cordTimeout)
		}
	}

	// Both sides release everything: each process is back to the
	// goroutines it had before the connection, the server tracks nothing.
	sr := srv.mustWait(t, "released", 10*time.Second)
	cr := cli.mustWait(t, "released", 10*time.Second)
	t.Logf("released: server %d goroutines (baseline %d), %d sockets (baseline %d: the listener), Len %d, Done %v, after %s; client %d goroutines (baseline %d), %d sockets (baseline %d), Done %v, after %s",
		sr.Goroutines, sr.Baseline, sr.Sockets, sr.SocketBase, sr.Len, sr.Done, sr.Waited, cr.Goroutines, cr.Baseline, cr.Sockets, cr.SocketBase, cr.Done, cr.Waited)
	released := true
	if sr.Goroutines != sr.Baseline || sr.Sockets != sr.SocketBase || sr.Len != 0 || !sr.Done {
		released = false
		t.Errorf("server: not released 3 s after Next failed: %d goroutines (baseline before the connection %d), %d sockets (baseline %d), Server.Len() %d, Done closed %v\n%s",
			sr.Goroutines, sr.Baseline, sr.Sockets, sr.SocketBase, sr.Len, sr.Done, sr.Stacks)
	}
	t.Logf("client: Close after Next failed returned in %s: %s", cr.CloseTook, cr.CloseErr)
	if took, _ := time.ParseDuration(cr.CloseTook); took > 500*time.Millisecond || !cr.CloseMatch {
		t.Errorf("client: Close on the connection keepalive closed took %s and returned %s; want an error matching wsio.ErrClosed at once", cr.CloseTook, cr.CloseErr)
	}
	if cr.Goroutines != cr.Baseline || cr.Sockets != cr.SocketBase || !cr.Done {
		released = false
		t.Errorf("client: not released 3 s after Next failed: %d goroutines (baseline before Dial %d), %d sockets (baseline %d), Done closed %v\n%s",
			cr.Goroutines, cr.Baseline, cr.Sockets, cr.SocketBase, cr.Done, cr.Stacks)
	}

	srv.finish(t)
	cli.finish(t)

	r.saw("control: open after %v idle (server %d pongs, client %d), echo %s%s; after the pull: the server's Next failed in %s, the client's in %s (limit %v + %v): server %s, state %s; client %s, state %s; released: goroutines %d/%d (server) and %d/%d (client), sockets %d/%d and %d/%d, Server.Len %d%s",
		cordControl, sp.Pongs, cp.Pongs, cp.RTT, map[bool]string{true: "", false: " (**control failed**)"}[controlOK],
		fmtDur(sides[0].after), fmtDur(sides[1].after), limit, cordSlack,
		sides[0].ended.Err, sides[0].ended.State, sides[1].ended.Err, sides[1].ended.State,
		sr.Goroutines, sr.Baseline, cr.Goroutines, cr.Baseline, sr.Sockets, sr.SocketBase, cr.Sockets, cr.SocketBase, sr.Len,
		map[bool]string{true: "", false: " (**not released**)"}[released])
}

// cordNets are the two namespaces and the two ends of the veth pair.
type cordNets struct {
	srvNS, cliNS   string
	srvDev, cliDev string
}

// cordNetns creates the two namespaces and the veth pair between them,
// with cordServerIP in the server's and cordClientIP in the client's, and
// deletes them when the test ends. It skips the test when the namespaces
// cannot be made.
func cordNetns(t *testing.T, r *row) cordNets {
	t.Helper()
	skip := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		r.saw("**not run**: %s", msg)
		t.Skip("SKIP (not run): " + msg)
	}
	if runtime.GOOS != "linux" {
		skip("the pulled-cord test needs Linux network namespaces; this is %s", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		skip("the pulled-cord test creates network namespaces and needs root; euid is %d", os.Geteuid())
	}
	if _, err := exec.LookPath("ip"); err != nil {
		skip("the pulled-cord test needs the `ip` command (iproute2): %v", err)
	}
	cordDeleteStale()
	run, pid := cordRuns.Add(1), os.Getpid()
	n := cordNets{
		srvNS:  fmt.Sprintf("wsio-cord-%d-%d-srv", pid, run),
		cliNS:  fmt.Sprintf("wsio-cord-%d-%d-cli", pid, run),
		srvDev: fmt.Sprintf("wc%d-%ds", pid, run), // at most 15 bytes
		cliDev: fmt.Sprintf("wc%d-%dc", pid, run),
	}
	ip := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
		return nil
	}
	for _, ns := range []string{n.srvNS, n.cliNS} {
		if err := ip("netns", "add", ns); err != nil {
			skip("cannot create a network namespace: %v", err)
		}
		t.Cleanup(func() {
			if err := ip("netns", "delete", ns); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		})
	}
	// Both ends are created inside the namespaces: no interface ever
	// exists in the machine's own namespace.
	if err := ip("link", "add", n.srvDev, "netns", n.srvNS, "type", "veth", "peer", "name", n.cliDev, "netns", n.cliNS); err != nil {
		skip("cannot create a veth pair between the namespaces: %v", err)
	}
	for _, step := range [][]string{
		{"-n", n.srvNS, "addr", "add", cordServerIP + "/30", "dev", n.srvDev},
		{"-n", n.cliNS, "addr", "add", cordClientIP + "/30", "dev", n.cliDev},
		{"-n", n.srvNS, "link", "set", "lo", "up"},
		{"-n", n.cliNS, "link", "set", "lo", "up"},
		{"-n", n.srvNS, "link", "set", n.srvDev, "up"},
		{"-n", n.cliNS, "link", "set", n.cliDev, "up"},
	} {
		if err := ip(step...); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// cordDeleteStale deletes the namespaces left by runs of this test whose
// process is gone (killed before its cleanups ran, by a test timeout for
// example); deleting a namespace deletes its end of the veth pair.
func cordDeleteStale() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, "wsio-cord-")
		if !ok {
			continue
		}
		pid, _, _ := strings.Cut(rest, "-")
		if _, err := os.Stat("/proc/" + pid); err == nil || pid == "" {
			continue // its test is still running
		}
		_ = exec.Command("ip", "netns", "delete", name).Run()
	}
}

// cordChild is one side, running as a child process.
type cordChild struct {
	role   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan cordEvent // closed at the child's EOF
	stop   chan struct{}  // closed when the test ends: events are dropped
	exited chan struct{}  // closed when Wait returned
	err    error          // Wait's result, after exited

	output wstest.Buffer // stdout lines that are not events, and stderr
}

// startCordChild runs TestCordHelper as role in namespace ns. It is
// killed, if still running, when the test ends.
func startCordChild(t *testing.T, role, ns string, env ...string) *cordChild {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &cordChild{role: role, events: make(chan cordEvent, 64), stop: make(chan struct{}), exited: make(chan struct{})}
	c.cmd = exec.Command("ip", "netns", "exec", ns, exe, "-test.run=^TestCordHelper$", "-test.count=1", "-test.timeout=2m")
	for _, kv := range os.Environ() {
		// The child must not write the parent's report.
		if !strings.HasPrefix(kv, "WSIO_HOSTILE_REPORT=") && !strings.HasPrefix(kv, "WSIO_CORD_") {
			c.cmd.Env = append(c.cmd.Env, kv)
		}
	}
	c.cmd.Env = append(c.cmd.Env, "WSIO_CORD_ROLE="+role,
		"WSIO_CORD_INTERVAL="+cordInterval.String(), "WSIO_CORD_TIMEOUT="+cordTimeout.String())
	c.cmd.Env = append(c.cmd.Env, env...)
	c.cmd.Stderr = &c.output
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("starting the %s child: %v", role, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			line := sc.Text()
			if js, ok := strings.CutPrefix(line, cordPrefix); ok {
				var e cordEvent
				if err := json.Unmarshal([]byte(js), &e); err == nil {
					select {
					case c.events <- e:
					case <-c.stop:
					}
					continue
				}
			}
			fmt.Fprintln(&c.output, line)
		}
		close(c.events)
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		close(c.stop)
		select {
		case <-c.exited:
		default:
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
		if t.Failed() {
			t.Logf("%s child's output:\n%s", role, c.output.String())
		}
	})
	return c
}

func (c *cordChild) send(t *testing.T, cmd string) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, cmd+"\n"); err != nil {
		t.Fatalf("writing to the %s child: %v", c.role, err)
	}
}

var errCordNoEvent = errors.New("no such event")

// wait returns the next event named ev, skipping others; any "ended"
// event it skips is an error.
func (c *cordChild) wait(ev string, d time.Duration) (cordEvent, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case e, ok := <-c.events:
			if !ok {
				<-c.exited
				return cordEvent{}, fmt.Errorf("the %s child exited (%v) before reporting %q", c.role, c.err, ev)
			}
			if e.Ev == ev {
				return e, nil
			}
			if e.Ev == "ended" {
				return cordEvent{}, fmt.Errorf("the %s's connection ended while waiting for %q: %s", c.role, ev, e.ErrText)
			}
			if e.Ev == "failed" {
				return cordEvent{}, c.failed(ev)
			}
		case <-timer.C:
			return cordEvent{}, fmt.Errorf("the %s child did not report %q within %v: %w", c.role, ev, d, errCordNoEvent)
		}
	}
}

func (c *cordChild) mustWait(t *testing.T, ev string, d time.Duration) cordEvent {
	t.Helper()
	e, err := c.wait(ev, d)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// failed lets a child that reported a failure exit (closing its stdin
// ends its command reader) so that its output is complete.
func (c *cordChild) failed(ev string) error {
	_ = c.stdin.Close()
	select {
	case <-c.exited:
		return fmt.Errorf("the %s child failed (%v) before reporting %q; see its output below", c.role, c.err, ev)
	case <-time.After(10 * time.Second):
		return fmt.Errorf("the %s child failed before reporting %q, and had not exited 10 s later; see its output below", c.role, ev)
	}
}

// checkControl fails the test on an event that ends the connection during
// the control phase.
func (c *cordChild) checkControl(t *testing.T, e cordEvent, ok bool, start time.Time) {
	t.Helper()
	if !ok {
		<-c.exited
		t.Fatalf("control: the %s child exited (%v) %v into the idle period", c.role, c.err, time.Since(start).Round(time.Millisecond))
	}
	if e.Ev == "failed" {
		t.Fatalf("control: %v", c.failed("the end of the idle period"))
	}
	if e.Ev == "ended" {
		t.Fatalf("control: the %s's healthy connection ended %v into the idle period, after %s open, %d pongs (false positive): %s",
			c.role, time.Since(start).Round(time.Millisecond), e.Since, e.Pongs, e.ErrText)
	}
}

// finish closes the child's stdin and waits for it to exit cleanly.
func (c *cordChild) finish(t *testing.T) {
	t.Helper()
	_ = c.stdin.Close()
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		t.Errorf("the %s child did not exit within 10 s of being told to", c.role)
		return
	}
	if c.err != nil {
		t.Errorf("the %s child failed: %v", c.role, c.err)
	}
}

// ---------------------------------------------------------------------
// The children.

// TestCordHelper is TestCord's child process; run directly, it skips.
func TestCordHelper(t *testing.T) {
	role := os.Getenv("WSIO_CORD_ROLE")
	if role == "" {
		t.Skip("helper process of TestCord: runs only as its child, inside a network namespace")
	}
	interval, err1 := time.ParseDuration(os.Getenv("WSIO_CORD_INTERVAL"))
	timeout, err2 := time.ParseDuration(os.Getenv("WSIO_CORD_TIMEOUT"))
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			cordEmit(cordEvent{Ev: "failed"})
		}
	})
	var pongs, lastPong atomic.Int64
	opts := wsio.Options{
		KeepaliveInterval: interval,
		KeepaliveTimeout:  timeout,
		OnPong: func([]byte) {
			now := time.Now().UnixNano()
			pongs.Add(1)
			lastPong.Store(now)
			cordEmit(cordEvent{Ev: "pong", At: now, Pongs: pongs.Load()})
		},
	}
	cmds := cordCommands()
	switch role {
	case "server":
		cordServerChild(t, opts, &pongs, &lastPong, cmds)
	case "client":
		cordClientChild(t, opts, &pongs, &lastPong, cmds)
	default:
		t.Fatalf("unknown WSIO_CORD_ROLE %q", role)
	}
}

var cordEmitMu sync.Mutex

func cordEmit(e cordEvent) {
	if e.At == 0 {
		e.At = time.Now().UnixNano()
	}
	js, err := json.Marshal(e)
	if err != nil {
		panic(err)
	}
	cordEmitMu.Lock()
	defer cordEmitMu.Unlock()
	fmt.Fprintf(os.Stdout, "%s%s\n", cordPrefix, js)
}

// cordCommands reads the parent's commands from stdin; the channel is
// closed at EOF, which means exit.
func cordCommands() <-chan string {
	ch := make(chan string)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

// cordEnded describes how Next failed, at the moment it failed.
func cordEnded(c *wsio.Conn, err error, opened time.Time, pongs, lastPong int64, msgs int) cordEvent {
	return cordEvent{
		Ev:       "ended",
		At:       time.Now().UnixNano(),
		State:    c.State().String(),
		Pongs:    pongs,
		Msgs:     msgs,
		Ended:    true,
		Err:      desc(err),
		ErrText:  err.Error(),
		Mismatch: checkCloseErr(err, wsio.StatusAbnormalClosure, false, wsio.ErrKeepalive),
		Since:    time.Since(opened).Round(time.Millisecond).String(),
		LastPong: lastPong,
	}
}

// cordSockets counts the process's open socket descriptors.
func cordSockets() int {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	n := 0
	for _, fd := range fds {
		if l, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}

// cordRelease waits up to 3 s for the process to be back to its baseline
// goroutines and sockets with done closed and cond true, and reports it.
func cordRelease(baseline, sockets int, done <-chan struct{}, cond func() bool, fill func(*cordEvent)) {
	start := time.Now()
	isDone := func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	ok := wstest.Poll(3*time.Second, func() bool {
		return runtime.NumGoroutine() == baseline && cordSockets() == sockets && isDone() && cond()
	})
	e := cordEvent{Ev: "released", Goroutines: runtime.NumGoroutine(), Baseline: baseline, Done: isDone(),
		Sockets: cordSockets(), SocketBase: sockets, Waited: time.Since(start).Round(time.Millisecond).String()}
	if fill != nil {
		fill(&e)
	}
	if !ok {
		e.Stacks = wstest.AllStacks()
	}
	cordEmit(e)
}

func cordServerChild(t *testing.T, opts wsio.Options, pongs, lastPong *atomic.Int64, cmds <-chan string) {
	ln, err := net.Listen("tcp", os.Getenv("WSIO_CORD_LISTEN"))
	if err != nil {
		t.Fatal(err)
	}
	var (
		cur   atomic.Pointer[wsio.Conn]
		msgs  atomic.Int64
		ended = make(chan struct{})
	)
	srv := wsio.NewServer(wsio.ServerOptions{Options: opts}, func(c *wsio.Conn) {
		if !cur.CompareAndSwap(nil, c) {
			_ = c.Close(wsio.StatusPolicyViolation, "one connection only")
			return
		}
		opened := time.Now()
		cordEmit(cordEvent{Ev: "accepted", State: c.State().String()})
		ctx := context.Background()
		for {
			m, err := c.Next(ctx)
			if err != nil {
				cordEmit(cordEnded(c, err, opened, pongs.Load(), lastPong.Load(), int(msgs.Load())))
				close(ended)
				return
			}
			if m.Kind == wsio.Text {
				msgs.Add(1)
				_ = c.SendText(ctx, m.Text)
			}
		}
	})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	baseline, sockets := runtime.NumGoroutine(), cordSockets()
	cordEmit(cordEvent{Ev: "listening", Addr: ln.Addr().String(), Baseline: baseline})

	endedCh := ended
	for {
		select {
		case cmd, ok := <-cmds:
			if !ok {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := srv.Shutdown(ctx); err != nil {
					t.Errorf("Shutdown: %v", err)
				}
				if err := <-served; !errors.Is(err, http.ErrServerClosed) {
					t.Errorf("Serve: %v", err)
				}
				return
			}
			if cmd == "probe" {
				e := cordEvent{Ev: "probe", Pongs: pongs.Load(), Msgs: int(msgs.Load()), Len: srv.Len()}
				if c := cur.Load(); c != nil {
					e.State = c.State().String()
				}
				select {
				case <-ended:
					e.Ended = true
				default:
				}
				cordEmit(e)
			}
		case <-endedCh:
			endedCh = nil
			c := cur.Load()
			cordRelease(baseline, sockets, c.Done(), func() bool { return srv.Len() == 0 }, func(e *cordEvent) { e.Len = srv.Len() })
		}
	}
}

func cordClientChild(t *testing.T, opts wsio.Options, pongs, lastPong *atomic.Int64, cmds <-chan string) {
	baseline, sockets := runtime.NumGoroutine(), cordSockets()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	c, _, err := wsio.Dial(ctx, os.Getenv("WSIO_CORD_URL"), &wsio.DialOptions{Options: opts, Proxy: wsio.ProxyURL(nil)})
	cancel()
	if err != nil {
		t.Fatalf("wsio.Dial: %v", err)
	}
	opened := time.Now()
	texts := make(chan string, 16)
	ended := make(chan struct{})
	go func() {
		msgs := 0
		for {
			m, err := c.Next(context.Background())
			if err != nil {
				cordEmit(cordEnded(c, err, opened, pongs.Load(), lastPong.Load(), msgs))
				close(ended)
				return
			}
			if m.Kind == wsio.Text {
				msgs++
				texts <- m.Text
			}
		}
	}()
	roundTrip := func(s string) (time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		if err := c.SendText(ctx, s); err != nil {
			return 0, fmt.Errorf("SendText: %w", err)
		}
		select {
		case got := <-texts:
			if got != s {
				return 0, fmt.Errorf("echo %q, want %q", got, s)
			}
			return time.Since(start), nil
		case <-ended:
			return 0, errors.New("the connection ended")
		case <-ctx.Done():
			return 0, fmt.Errorf("no echo: %w", ctx.Err())
		}
	}
	var rtt time.Duration
	for i := range 3 {
		d, err := roundTrip(fmt.Sprintf("hello %d", i))
		if err != nil {
			t.Fatalf("echo %d over the fresh connection: %v", i, err)
		}
		rtt = max(rtt, d)
	}
	cordEmit(cordEvent{Ev: "ready", RTT: rtt.Round(10 * time.Microsecond).String(), State: c.State().String()})

	endedCh := ended
	for {
		select {
		case cmd, ok := <-cmds:
			if !ok {
				if c.State() != wsio.Closed {
					_ = c.Close(wsio.StatusNormalClosure, "")
				}
				<-ended
				return
			}
			if cmd == "probe" {
				e := cordEvent{Ev: "probe", Pongs: pongs.Load(), State: c.State().String()}
				if d, err := roundTrip("probe"); err != nil {
					e.Fail = err.Error()
				} else {
					e.RTT = d.Round(10 * time.Microsecond).String()
				}
				select {
				case <-ended:
					e.Ended = true
				default:
				}
				cordEmit(e)
			}
		case <-endedCh:
			endedCh = nil
			// What a deferred Close does on the dead connection.
			start := time.Now()
			err := c.Close(wsio.StatusNormalClosure, "")
			took := time.Since(start)
			cordRelease(baseline, sockets, c.Done(), func() bool { return true }, func(e *cordEvent) {
				e.CloseErr, e.CloseTook, e.CloseMatch = fmt.Sprint(err), took.String(), errors.Is(err, wsio.ErrClosed)
			})
		}
	}
}
