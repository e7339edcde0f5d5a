package cluster

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/wsio/wsio"
)

// Policy says what a Hub does with a connection whose queue is full.
type Policy uint8

const (
	// Drop skips the message for that connection only; it keeps the
	// messages already queued and gets the later ones that fit.
	Drop Policy = iota
	// Disconnect closes the connection with Options.CloseCode.
	Disconnect
)

// Options configure a Hub.
type Options struct {
	// Bus carries messages between nodes. Required.
	Bus Bus
	// Prefix is put before a topic to make its bus subject. Default "wsio.".
	Prefix string
	// QueueLen bounds the messages queued for one connection. Default 256.
	QueueLen int
	// Policy applies when a connection's queue is full. Default Drop.
	Policy Policy
	// CloseCode is the code Disconnect closes a slow connection with:
	// wsio.StatusTryAgainLater (1013, the default) or
	// wsio.StatusPolicyViolation (1008).
	CloseCode wsio.StatusCode
	// SendTimeout bounds one message's send to one connection; a send that
	// takes longer closes the connection (1006), whatever the Policy.
	// Default 10 s.
	SendTimeout time.Duration
	// FragmentSize is the frame size messages are cut into (see
	// wsio.Prepare). Zero means wsio's default.
	FragmentSize int
}

// Metrics are a Hub's counters since it was made.
type Metrics struct {
	Conns  int // connections subscribed to at least one topic now
	Topics int // topics with local subscribers now

	Published    uint64 // Publish calls that were accepted
	BusErrors    uint64 // of those, the ones the bus refused (reached local subscribers only)
	Received     uint64 // messages from other nodes
	Lost         uint64 // messages from other nodes known to be missing (sequence gaps while subscribed)
	Delivered    uint64 // messages sent to a connection
	Dropped      uint64 // messages skipped for a full queue (Policy Drop)
	Disconnected uint64 // connections closed for a full queue (Policy Disconnect)
	SendFailures uint64 // sends that failed or timed out, closing their connection (not those refused by a connection already closing)
}

// ErrHubClosed is returned by Join and Publish after Close.
var ErrHubClosed = errors.New("cluster: the hub is closed")

// A Hub holds one node's topic subscriptions and connects them to the bus.
// Its methods are safe for concurrent use.
type Hub struct {
	opts   Options
	origin [16]byte // this hub's identity on the bus

	subMu sync.Mutex // serialises changes to the bus subscriptions (held around Bus.Subscribe)

	mu      sync.RWMutex // guards topics, members and closed
	topics  map[string]*topic
	members map[*wsio.Conn]*member
	closed  bool

	// A Publish holds its topic's pubOrder lock (one of pubStripes, by a
	// hash of the name under pubSeed) from sequence number to bus
	// hand-off, so the bus sees each topic's sequence order while
	// publishes to other topics go on: a bus that waits for its server
	// (Redis) keeps one publish in flight per stripe, not per node.
	pubSeed  maphash.Seed
	pubOrder [pubStripes]sync.Mutex

	// seqMu guards seq and oldSeq. seq holds the last sequence number
	// sent per topic, for the topics published to since it was made; when
	// it holds maxSeqTopics it becomes oldSeq, whose topics move back to
	// seq when published to again, and the topics left in the old oldSeq
	// are forgotten, so the two hold at most 2*maxSeqTopics. A forgotten
	// topic starts again at 1, which receivers take as a new sequence.
	seqMu       sync.Mutex
	seq, oldSeq map[string]uint64

	recvMu sync.Mutex // guards every topic's last

	wg sync.WaitGroup // member goroutines

	published, busErrors, received, lost       atomic.Uint64
	delivered, dropped, disconnected, sendFail atomic.Uint64
}

// maxSeqTopics bounds the topics whose sequence numbers a Hub keeps as a
// publisher (see Hub.seq).
const maxSeqTopics = 1 << 16

// pubStripes is how many topics' publishes may be in flight at once (see
// Hub.pubOrder).
const pubStripes = 64

type topic struct {
	members map[*member]struct{}
	unsub   func() error
	// last is the last sequence number seen from each other node on
	// this topic while this node subscribes to it; under Hub.recvMu.
	last map[[16]byte]uint64
}

// member is one connection's state: its topics and its send queue, drained
// in order by its own goroutine.
type member struct {
	c      *wsio.Conn
	q      chan *wsio.Prepared
	topics map[string]struct{} // under Hub.mu
	kicked atomic.Bool         // closed for a full queue or a failed send: queue no more
	stop   chan struct{}       // closed by Hub.Close
}

// New returns a Hub on opts.Bus.
func New(opts Options) (*Hub, error) {
	if opts.Bus == nil {
		return nil, errors.New("cluster: Options.Bus is nil")
	}
	if opts.Prefix == "" {
		opts.Prefix = "wsio."
	}
	if opts.QueueLen <= 0 {
		opts.QueueLen = 256
	}
	if opts.CloseCode == 0 {
		opts.CloseCode = wsio.StatusTryAgainLater
	}
	if opts.SendTimeout <= 0 {
		opts.SendTimeout = 10 * time.Second
	}
	h := &Hub{
		opts:    opts,
		topics:  make(map[string]*topic),
		members: make(map[*wsio.Conn]*member),
		seq:     make(map[string]uint64),
		pubSeed: maphash.MakeSeed(),
	}
	_, _ = rand.Read(h.origin[:])
	return h, nil
}

// Join subscribes c to topic on this node, subscribing the node to the
// topic's bus subject if c is its first local subscriber. A connection
// leaves all its topics by itself when it closes.
func (h *Hub) Join(c *wsio.Conn, name string) error {
	h.subMu.Lock()
	defer h.subMu.Unlock()
	h.mu.RLock()
	closed, t := h.closed, h.topics[name]
	h.mu.RUnlock()
	if closed {
		return ErrHubClosed
	}
	var unsub func() error
	if t == nil {
		u, err := h.opts.Bus.Subscribe(h.opts.Prefix+name, func(data []byte) { h.receive(name, data) })
		if err != nil {
			return fmt.Errorf("cluster: subscribe to %q: %w", name, err)
		}
		unsub = u
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		if unsub != nil {
			_ = unsub()
		}
		return ErrHubClosed
	}
	if t == nil {
		t = &topic{members: make(map[*member]struct{}), unsub: unsub, last: make(map[[16]byte]uint64)}
		h.topics[name] = t
	}
	m := h.members[c]
	if m == nil {
		m = &member{c: c, q: make(chan *wsio.Prepared, h.opts.QueueLen), topics: make(map[string]struct{}), stop: make(chan struct{})}
		h.members[c] = m
		h.wg.Add(1)
		go h.run(m)
	}
	m.topics[name] = struct{}{}
	t.members[m] = struct{}{}
	return nil
}

// Leave unsubscribes c from topic, and the node from the topic's bus
// subject when c was its last local subscriber.
func (h *Hub) Leave(c *wsio.Conn, name string) {
	h.subMu.Lock()
	defer h.subMu.Unlock()
	h.mu.Lock()
	m := h.members[c]
	var unsub []func() error
	if m != nil {
		unsub = h.leaveLocked(m, name)
	}
	h.mu.Unlock()
	for _, u := range unsub {
		_ = u()
	}
}

// leaveLocked removes m from topic name and returns the bus subscription to
// end if the topic has no subscriber left. It forgets m once m has no topic.
func (h *Hub) leaveLocked(m *member, name string) []func() error {
	var unsub []func() error
	if t := h.topics[name]; t != nil {
		delete(t.members, m)
		if len(t.members) == 0 {
			delete(h.topics, name)
			unsub = append(unsub, t.unsub)
		}
	}
	delete(m.topics, name)
	if len(m.topics) == 0 && h.members[m.c] == m {
		delete(h.members, m.c)
		close(m.stop)
	}
	return unsub
}

// remove takes m out of every topic.
func (h *Hub) remove(m *member) {
	h.subMu.Lock()
	defer h.subMu.Unlock()
	h.mu.Lock()
	var unsub []func() error
	if h.members[m.c] == m {
		for name := range m.topics {
			unsub = append(unsub, h.leaveLocked(m, name)...)
		}
	}
	h.mu.Unlock()
	for _, u := range unsub {
		_ = u()
	}
}

// run sends m's queue in order until the connection closes, m leaves its
// last topic, or the Hub closes.
func (h *Hub) run(m *member) {
	defer h.wg.Done()
	for {
		select {
		case p := <-m.q:
			ctx, cancel := context.WithTimeout(context.Background(), h.opts.SendTimeout)
			err := m.c.SendPrepared(ctx, p)
			cancel()
			if err != nil {
				h.sendFailed(m, err)
				return
			}
			h.delivered.Add(1)
		case <-m.c.Done():
			h.remove(m)
			return
		case <-m.stop:
			return
		}
	}
}

// sendFailed ends m after a failed send. A send refused because the
// connection is already closing cleanly (a Close such as Server.Shutdown's
// 1001 or the Disconnect policy's, or the peer's close frame) is not a
// failure of the send: whoever closes runs the closing handshake, and
// cutting the stream here would keep its close frame from the peer, or the
// peer's answer from it. A send that failed by itself (a write error, or
// SendTimeout in the middle of the message) has closed the connection
// (1006) already; one that timed out before anything went out has left it
// open, so m closes it.
func (h *Hub) sendFailed(m *member, err error) {
	var ce *wsio.CloseError
	orderly := errors.As(err, &ce) && ce.Code != wsio.StatusAbnormalClosure
	if m.kicked.CompareAndSwap(false, true) && !orderly {
		h.sendFail.Add(1)
	}
	if !errors.Is(err, wsio.ErrClosed) {
		_ = m.c.CloseNow()
	}
	h.remove(m)
}

// Publish sends a message of the given kind to every connection
// subscribed to topic, on this node and on every other. The local
// subscribers get it even when the bus is away; then the error wraps the
// bus's error and the other nodes do not get it (it is not retried).
// Messages one goroutine publishes to one topic reach each subscriber in
// that order. Publish does not wait for the sends; it keeps data, so the
// caller must not change it afterwards.
//
// If ctx is already done, Publish returns ctx.Err() and sends nothing.
// A text message must be valid UTF-8.
func (h *Hub) Publish(ctx context.Context, name string, kind wsio.Kind, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if kind != wsio.Text && kind != wsio.Binary {
		return errors.New("cluster: Publish: unknown message kind")
	}
	if kind == wsio.Text && !utf8.Valid(data) {
		return fmt.Errorf("cluster: Publish: %w", wsio.ErrInvalidUTF8)
	}
	h.mu.RLock()
	closed := h.closed
	h.mu.RUnlock()
	if closed {
		return ErrHubClosed
	}
	order := &h.pubOrder[maphash.String(h.pubSeed, name)%pubStripes]
	order.Lock()
	defer order.Unlock()
	seq := h.nextSeq(name)
	h.published.Add(1)
	h.deliver(name, kind, data)
	if err := h.opts.Bus.Publish(h.opts.Prefix+name, encode(h.origin, seq, kind, data)); err != nil {
		h.busErrors.Add(1)
		return fmt.Errorf("cluster: publish to the bus: %w", err)
	}
	return nil
}

// nextSeq returns the next sequence number of topic name.
func (h *Hub) nextSeq(name string) uint64 {
	h.seqMu.Lock()
	defer h.seqMu.Unlock()
	last, ok := h.seq[name]
	if !ok {
		if len(h.seq) >= maxSeqTopics {
			h.oldSeq, h.seq = h.seq, make(map[string]uint64)
		}
		last = h.oldSeq[name]
		delete(h.oldSeq, name)
	}
	h.seq[name] = last + 1
	return last + 1
}

// receive handles one bus message on topic name.
func (h *Hub) receive(name string, data []byte) {
	origin, seq, kind, payload, ok := decode(data)
	if !ok || origin == h.origin {
		return // not ours to read, or our own, delivered already
	}
	h.received.Add(1)
	h.mu.RLock()
	defer h.mu.RUnlock()
	t := h.topics[name]
	if t == nil {
		return // the node has left the topic since
	}
	h.recvMu.Lock()
	last, seen := t.last[origin]
	switch {
	case seq == 1:
		t.last[origin] = seq // a new sequence: the sender is new, or forgot the topic
	case seen && seq > last+1:
		h.lost.Add(seq - last - 1)
		fallthrough
	case seq > last:
		t.last[origin] = seq
	}
	h.recvMu.Unlock()
	h.deliverLocked(t, kind, append([]byte(nil), payload...))
}

// deliver queues a message for every local subscriber of topic name.
func (h *Hub) deliver(name string, kind wsio.Kind, data []byte) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if t := h.topics[name]; t != nil {
		h.deliverLocked(t, kind, data)
	}
}

// deliverLocked frames a message once and queues it for every member of
// t. The caller holds h.mu (read).
func (h *Hub) deliverLocked(t *topic, kind wsio.Kind, data []byte) {
	if len(t.members) == 0 {
		return
	}
	p, err := wsio.Prepare(kind, data, h.opts.FragmentSize)
	if err != nil {
		return // checked by Publish; a malformed bus message is not delivered
	}
	for m := range t.members {
		if m.kicked.Load() {
			continue
		}
		select {
		case m.q <- p:
			continue
		default:
		}
		if h.opts.Policy == Drop {
			h.dropped.Add(1)
			continue
		}
		if m.kicked.CompareAndSwap(false, true) {
			h.disconnected.Add(1)
			// Close waits for the write lock the stuck send holds, at
			// most CloseTimeout; the member leaves when Done fires.
			go func() { _ = m.c.Close(h.opts.CloseCode, "slow consumer") }()
		}
	}
}

// Metrics returns the Hub's counters.
func (h *Hub) Metrics() Metrics {
	h.mu.RLock()
	conns, topics := len(h.members), len(h.topics)
	h.mu.RUnlock()
	return Metrics{
		Conns: conns, Topics: topics,
		Published: h.published.Load(), BusErrors: h.busErrors.Load(),
		Received: h.received.Load(), Lost: h.lost.Load(),
		Delivered: h.delivered.Load(), Dropped: h.dropped.Load(),
		Disconnected: h.disconnected.Load(), SendFailures: h.sendFail.Load(),
	}
}

// Close ends the Hub's bus subscriptions and its send goroutines, dropping
// queued messages. It leaves the connections open (their Server owns
// them) and does not close the Bus.
func (h *Hub) Close() error {
	h.subMu.Lock()
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		h.subMu.Unlock()
		return nil
	}
	h.closed = true
	var errs []error
	var unsub []func() error
	for _, t := range h.topics {
		unsub = append(unsub, t.unsub)
	}
	for _, m := range h.members {
		close(m.stop)
	}
	h.topics = map[string]*topic{}
	h.members = map[*wsio.Conn]*member{}
	h.mu.Unlock()
	for _, u := range unsub {
		if err := u(); err != nil {
			errs = append(errs, err)
		}
	}
	h.subMu.Unlock()
	h.wg.Wait()
	return errors.Join(errs...)
}

// The bus message: version, kind, origin, sequence number, payload.
const (
	wireVersion = 1
	headerLen   = 2 + 16 + 8
)

func encode(origin [16]byte, seq uint64, kind wsio.Kind, data []byte) []byte {
	b := make([]byte, headerLen, headerLen+len(data))
	b[0], b[1] = wireVersion, byte(kind)
	copy(b[2:18], origin[:])
	binary.BigEndian.PutUint64(b[18:26], seq)
	return append(b, data...)
}

func decode(b []byte) (origin [16]byte, seq uint64, kind wsio.Kind, payload []byte, ok bool) {
	if len(b) < headerLen || b[0] != wireVersion {
		return origin, 0, 0, nil, false
	}
	kind = wsio.Kind(b[1])
	if kind != wsio.Text && kind != wsio.Binary {
		return origin, 0, 0, nil, false
	}
	copy(origin[:], b[2:18])
	return origin, binary.BigEndian.Uint64(b[18:26]), kind, b[headerLen:], true
}
