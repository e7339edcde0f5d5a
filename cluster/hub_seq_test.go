package cluster

import (
	"context"
	"hash/maphash"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wsio/wsio"
)

// recBus is a Bus that keeps the sequence numbers of what is published on
// the subjects it watches, and each subscription's callback so a test can
// deliver messages from other nodes.
type recBus struct {
	mu    sync.Mutex
	watch map[string][]uint64
	subs  map[string]func([]byte)
}

func (b *recBus) Publish(subject string, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if seqs, ok := b.watch[subject]; ok {
		_, seq, _, _, _ := decode(data)
		b.watch[subject] = append(seqs, seq)
	}
	return nil
}

func (b *recBus) Subscribe(subject string, fn func([]byte)) (func() error, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs[subject] = fn
	return func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.subs, subject)
		return nil
	}, nil
}

func (b *recBus) Close() error { return nil }

// TestHubSequenceBounded: a Hub keeps the sequence numbers of at most
// 2*maxSeqTopics topics however many it publishes to; a topic published to
// all along keeps counting, and one forgotten starts again at 1.
func TestHubSequenceBounded(t *testing.T) {
	t.Parallel()
	bus := &recBus{watch: map[string][]uint64{"wsio.hot": nil, "wsio.cold": nil}, subs: map[string]func([]byte){}}
	h, err := New(Options{Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	publish := func(name string) {
		if err := h.Publish(ctx, name, wsio.Binary, nil); err != nil {
			t.Fatal(err)
		}
	}
	publish("cold")
	const n = 3*maxSeqTopics + 5
	hot := 0
	for i := range n {
		publish("t" + strconv.Itoa(i))
		if i%1000 == 0 {
			publish("hot")
			hot++
		}
		if kept := len(h.seq) + len(h.oldSeq); kept > 2*maxSeqTopics {
			t.Fatalf("after %d topics the hub keeps %d sequence numbers, want at most %d", i+1, kept, 2*maxSeqTopics)
		}
	}
	publish("cold")
	for i, seq := range bus.watch["wsio.hot"] {
		if seq != uint64(i+1) {
			t.Fatalf("hot topic's sequence numbers %v: the %dth is %d", bus.watch["wsio.hot"], i+1, seq)
		}
	}
	if got := len(bus.watch["wsio.hot"]); got != hot {
		t.Fatalf("hot topic published %d times, bus saw %d", hot, got)
	}
	if got := bus.watch["wsio.cold"]; len(got) != 2 || got[0] != 1 || got[1] != 1 {
		t.Fatalf("cold topic's sequence numbers %v, want [1 1] (forgotten in between)", got)
	}
}

// TestHubLostCounts: Lost counts the gaps in each other node's sequence
// on a topic while this node subscribes to it; a sequence that starts
// again at 1 (a sender that forgot the topic) is no gap, and neither is
// what was published while this node had left the topic.
func TestHubLostCounts(t *testing.T) {
	t.Parallel()
	bus := &recBus{watch: map[string][]uint64{}, subs: map[string]func([]byte){}}
	h, err := New(Options{Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ours, theirs := net.Pipe()
	defer theirs.Close()
	go func() { _, _ = io.Copy(io.Discard, theirs) }()
	c := wsio.NewConn(ours, false, nil)
	defer c.CloseNow()

	var a, b [16]byte
	a[0], b[0] = 'a', 'b'
	send := func(origin [16]byte, seq uint64) {
		t.Helper()
		bus.mu.Lock()
		fn := bus.subs["wsio.t"]
		bus.mu.Unlock()
		if fn == nil {
			t.Fatal("the hub does not subscribe to topic t")
		}
		fn(encode(origin, seq, wsio.Binary, []byte("x")))
	}
	for _, step := range []struct {
		what   string
		join   bool
		leave  bool
		origin [16]byte
		seqs   []uint64
		lost   uint64
	}{
		{what: "a gap of two", join: true, origin: a, seqs: []uint64{1, 2, 5}, lost: 2},
		{what: "a restarted sequence", origin: a, seqs: []uint64{1, 2}, lost: 2},
		{what: "a gap after the restart", origin: a, seqs: []uint64{4}, lost: 3},
		{what: "a node first seen mid-sequence", origin: b, seqs: []uint64{7}, lost: 3},
		{what: "a gap from the second node", origin: b, seqs: []uint64{9}, lost: 4},
		{what: "a repeat", origin: b, seqs: []uint64{9, 8}, lost: 4},
		{what: "after leaving and joining again", leave: true, join: true, origin: a, seqs: []uint64{10}, lost: 4},
		{what: "a gap after joining again", origin: a, seqs: []uint64{12}, lost: 5},
	} {
		if step.leave {
			h.Leave(c, "t")
		}
		if step.join {
			if err := h.Join(c, "t"); err != nil {
				t.Fatal(err)
			}
		}
		for _, seq := range step.seqs {
			send(step.origin, seq)
		}
		if got := h.Metrics().Lost; got != step.lost {
			t.Fatalf("%s: Lost = %d, want %d", step.what, got, step.lost)
		}
	}
	if got, want := h.Metrics().Received, uint64(12); got != want {
		t.Fatalf("Received = %d, want %d", got, want)
	}
}

// gateBus is a Bus whose Publish on one subject waits until the test lets
// it go, as a bus waiting for its server does.
type gateBus struct {
	recBus
	slow    string
	entered chan struct{}
	release chan struct{}
}

func (b *gateBus) Publish(subject string, _ []byte) error {
	if subject == b.slow {
		b.entered <- struct{}{}
		<-b.release
	}
	return nil
}

// TestHubPublishesTopicsConcurrently: while the bus holds a publish to one
// topic, a publish to a topic of another stripe goes through.
func TestHubPublishesTopicsConcurrently(t *testing.T) {
	t.Parallel()
	bus := &gateBus{recBus: recBus{subs: map[string]func([]byte){}}, slow: "wsio.slow", entered: make(chan struct{}), release: make(chan struct{})}
	h, err := New(Options{Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	stripe := func(name string) uint64 { return maphash.String(h.pubSeed, name) % pubStripes }
	fast := "fast"
	for i := 0; stripe(fast) == stripe("slow"); i++ {
		fast = "fast" + strconv.Itoa(i)
	}
	ctx := context.Background()
	slowDone := make(chan error, 1)
	go func() { slowDone <- h.Publish(ctx, "slow", wsio.Binary, nil) }()
	<-bus.entered

	fastDone := make(chan error, 1)
	go func() { fastDone <- h.Publish(ctx, fast, wsio.Binary, nil) }()
	select {
	case err := <-fastDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		close(bus.release)
		t.Fatal("a publish to another topic waited for the one the bus holds")
	}
	close(bus.release)
	if err := <-slowDone; err != nil {
		t.Fatal(err)
	}
}
