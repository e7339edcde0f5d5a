package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/cluster"
	"github.com/wsio/wsio/cluster/natsbus"
	"github.com/wsio/wsio/cluster/redisbus"
	"github.com/wsio/wsio/internal/wstest"
)

// trusted is the balancers' address: clients that must not be trusted
// connect from 127.0.0.2.
var trusted = cluster.TrustedProxies{Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}

// node is one wsio process: a Server on its own listener and a Hub on its
// own bus connection. A connection joins the topics named by its URL's
// topic parameters, then gets "hello <node> <client address>".
type node struct {
	name string
	addr string
	srv  *wsio.Server
	hub  *cluster.Hub
	bus  cluster.Bus
	ln   net.Listener
	done chan struct{}
}

type nodeConfig struct {
	hub    cluster.Options
	server wsio.ServerOptions
	sndbuf int // when positive, the send buffer of accepted sockets
}

type busFactory func(t *testing.T) cluster.Bus

func natsFactory(n *natsServer) busFactory {
	return func(t *testing.T) cluster.Bus {
		b, err := natsbus.Connect(n.url())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

func redisFactory(r *redisServer) busFactory {
	return func(t *testing.T) cluster.Bus {
		return redisbus.New(&redis.Options{Addr: r.addr, MaxRetries: -1, DialTimeout: time.Second})
	}
}

func startNode(t *testing.T, name string, newBus busFactory, cfg nodeConfig) *node {
	t.Helper()
	n := &node{name: name, bus: newBus(t), done: make(chan struct{})}
	cfg.hub.Bus = n.bus
	hub, err := cluster.New(cfg.hub)
	if err != nil {
		t.Fatal(err)
	}
	n.hub = hub
	n.srv = wsio.NewServer(cfg.server, func(c *wsio.Conn) {
		ctx := context.Background()
		for _, topic := range c.Request().URL.Query()["topic"] {
			if err := hub.Join(c, topic); err != nil {
				_ = c.Close(wsio.StatusInternalError, err.Error())
				return
			}
		}
		if err := c.SendText(ctx, "hello "+name+" "+trusted.ClientIP(c.Request()).String()); err != nil {
			return
		}
		for {
			if _, err := c.Next(ctx); err != nil {
				return
			}
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.sndbuf > 0 {
		ln = sndbufListener{ln.(*net.TCPListener), cfg.sndbuf}
	}
	n.ln, n.addr = ln, ln.Addr().String()
	go func() { defer close(n.done); _ = n.srv.Serve(ln) }()
	t.Cleanup(n.kill)
	return n
}

type sndbufListener struct {
	*net.TCPListener
	size int
}

func (l sndbufListener) Accept() (net.Conn, error) {
	c, err := l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	_ = c.SetWriteBuffer(l.size)
	return c, nil
}

// kill ends the node at once: its connections drop without a close frame.
func (n *node) kill() {
	_ = n.srv.Close()
	<-n.done
	_ = n.hub.Close()
	_ = n.bus.Close()
}

// publish publishes count messages "<pub>:<seq>:<unixnano>" on topic,
// seq from first, every gap (0: as fast as possible).
func (n *node) publish(t *testing.T, topic, pub string, first, count int, gap time.Duration) {
	ctx := context.Background()
	for i := first; i < first+count; i++ {
		msg := fmt.Sprintf("%s:%d:%d", pub, i, time.Now().UnixNano())
		if err := n.hub.Publish(ctx, topic, wsio.Text, []byte(msg)); err != nil {
			t.Errorf("%s publish %d: %v", n.name, i, err)
			return
		}
		if gap > 0 {
			time.Sleep(gap)
		}
	}
}

func addrs(nodes []*node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.addr)
	}
	return out
}

// gap is a run of a publisher's messages a subscriber did not get.
type gap struct {
	pub      string
	from, to int // inclusive
}

// sub is a subscriber: it reads through the balancer, checks the order of
// each publisher's messages, and (when reconnect is set) dials again
// through the balancer with cluster.Redial when its connection ends.
type sub struct {
	url       string
	opts      *wsio.DialOptions
	reconnect bool

	mu       sync.Mutex
	last     map[string]int // last seq per publisher
	count    map[string]int
	gaps     []gap
	disorder []string
	nodes    []string // the node of each connection, in order
	clientIP []string
	closes   []error // how each connection ended
	lat      []time.Duration
	conn     *wsio.Conn
	done     chan struct{}
}

func newSub(t *testing.T, ctx context.Context, rawURL string, opts *wsio.DialOptions, reconnect bool) *sub {
	t.Helper()
	s := &sub{url: rawURL, opts: opts, reconnect: reconnect, last: map[string]int{}, count: map[string]int{}, done: make(chan struct{})}
	c, err := s.dial(ctx)
	if err != nil {
		t.Fatalf("dial %s: %v", rawURL, err)
	}
	go s.run(ctx, c)
	return s
}

// dial connects and reads the welcome; the topics are in the URL, so
// dialling again resubscribes.
func (s *sub) dial(ctx context.Context) (*wsio.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, _, err := wsio.Dial(dctx, s.url, s.opts)
	if err != nil {
		return nil, err
	}
	m, err := c.Next(dctx)
	if err != nil {
		_ = c.CloseNow()
		return nil, err
	}
	f := strings.Fields(m.Text)
	if len(f) != 3 || f[0] != "hello" {
		_ = c.CloseNow()
		return nil, fmt.Errorf("unexpected welcome %q", m.Text)
	}
	s.mu.Lock()
	s.nodes = append(s.nodes, f[1])
	s.clientIP = append(s.clientIP, f[2])
	s.conn = c
	s.mu.Unlock()
	return c, nil
}

func (s *sub) run(ctx context.Context, c *wsio.Conn) {
	defer close(s.done)
	for {
		err := s.read(ctx, c)
		s.mu.Lock()
		s.closes = append(s.closes, err)
		s.mu.Unlock()
		if !s.reconnect || ctx.Err() != nil {
			return
		}
		c, _, err = cluster.Redial(ctx, cluster.Backoff{Min: 50 * time.Millisecond, Max: time.Second}, s.dial)
		if err != nil {
			return
		}
	}
}

func (s *sub) read(ctx context.Context, c *wsio.Conn) error {
	for {
		m, err := c.Next(ctx)
		if err != nil {
			_ = c.CloseNow()
			return err
		}
		now := time.Now()
		parts := strings.SplitN(m.Text, ":", 4) // publisher, seq, publish time, padding
		if len(parts) < 3 {
			continue
		}
		seq, _ := strconv.Atoi(parts[1])
		ns, _ := strconv.ParseInt(parts[2], 10, 64)
		pub := parts[0]
		s.mu.Lock()
		if last, ok := s.last[pub]; ok {
			switch {
			case seq <= last:
				s.disorder = append(s.disorder, fmt.Sprintf("%s:%d after %d", pub, seq, last))
			case seq > last+1:
				s.gaps = append(s.gaps, gap{pub, last + 1, seq - 1})
			}
		}
		s.last[pub] = seq
		s.count[pub]++
		s.lat = append(s.lat, now.Sub(time.Unix(0, ns)))
		s.mu.Unlock()
	}
}

func (s *sub) got(pub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count[pub]
}

func (s *sub) lastSeq(pub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.last[pub]; ok {
		return v
	}
	return -1
}

func (s *sub) node() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nodes[len(s.nodes)-1]
}

func (s *sub) stop() {
	s.mu.Lock()
	c := s.conn
	s.reconnect = false
	s.mu.Unlock()
	_ = c.CloseNow()
	<-s.done
}

// subURL is the balancer URL that joins topics.
func subURL(scheme, addr string, topics ...string) string {
	q := url.Values{"topic": topics}
	return scheme + "://" + addr + "/?" + q.Encode()
}

// fromLoopback2 dials from 127.0.0.2, an address the nodes do not trust,
// and sends a forged X-Forwarded-For.
func fromLoopback2() *wsio.DialOptions {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	return &wsio.DialOptions{
		NetDial: d.DialContext,
		Header:  map[string][]string{"X-Forwarded-For": {"203.0.113.7"}},
	}
}

// closeCode is the code of a *wsio.CloseError, or 0.
func closeCode(err error) wsio.StatusCode {
	var ce *wsio.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	if !wstest.Poll(d, cond) {
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
}

func itoa(i int) string     { return strconv.Itoa(i) }
func itoa64(i int64) string { return strconv.FormatInt(i, 10) }

// smallRcvbuf dials with a 4 KiB receive buffer, so a reader that stops
// soon stops the sender.
func smallRcvbuf(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
	return d.DialContext(ctx, network, addr)
}

// logOnFailure logs the subscribers' and nodes' state if the test fails.
func logOnFailure(t *testing.T, nodes []*node, subs []*sub) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for i, s := range subs {
			s.mu.Lock()
			t.Logf("subscriber %d: nodes %v, counts %v, gaps %v, disorder %d, closes %v", i, s.nodes, s.count, s.gaps, len(s.disorder), s.closes)
			s.mu.Unlock()
		}
		for _, n := range nodes {
			t.Logf("%s metrics: %+v", n.name, n.hub.Metrics())
		}
	})
}
