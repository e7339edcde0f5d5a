package e2e

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/cluster"
	"github.com/wsio/wsio/cluster/natsbus"
)

// TestKillNodeMidStream: node2 dies while node0 publishes. Its subscribers
// reconnect through HAProxy to a live node and keep receiving. Each of
// them missed exactly one contiguous run of messages: those published
// after its last delivery on node2 and before it joined the topic on its
// new node. The others missed nothing.
func TestKillNodeMidStream(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nodes, subs := balancedSubscribers(t, ctx)
	defer func() {
		for _, s := range subs {
			s.stop()
		}
	}()

	const total, killAt = 1500, 500
	var wg sync.WaitGroup
	wg.Go(func() {
		nodes[0].publish(t, "news", "pub", 0, killAt, time.Millisecond)
		nodes[2].kill()
		nodes[0].publish(t, "news", "pub", killAt, total-killAt, time.Millisecond)
	})
	wg.Wait()
	waitUntil(t, "every subscriber to get the last message", 30*time.Second, func() bool {
		for _, s := range subs {
			if s.lastSeq("pub") != total-1 {
				return false
			}
		}
		return true
	})
	for i, s := range subs {
		s.mu.Lock()
		if len(s.disorder) > 0 {
			t.Errorf("subscriber %d: out of order: %v", i, s.disorder)
		}
		if s.nodes[0] != "node2" {
			if len(s.gaps) != 0 || len(s.nodes) != 1 {
				t.Errorf("subscriber %d on %s: gaps %v, connections %v; want none missed on one connection", i, s.nodes[0], s.gaps, s.nodes)
			}
		} else {
			missed := 0
			for _, g := range s.gaps {
				missed += g.to - g.from + 1
			}
			if len(s.nodes) != 2 || s.nodes[1] == "node2" || len(s.gaps) > 1 || s.count["pub"]+missed != total {
				t.Errorf("subscriber %d: connections %v, gaps %v, got %d of %d; want one reconnect to a live node and at most one gap",
					i, s.nodes, s.gaps, s.count["pub"], total)
			}
			t.Logf("subscriber %d: on %s then %s after %v; missed %v (%d messages), got %d of %d",
				i, s.nodes[0], s.nodes[1], s.closes[0], s.gaps, missed, s.count["pub"], total)
		}
		s.mu.Unlock()
	}
}

// TestBusRestart: the bus server (NATS, Redis) goes away and comes back
// while the nodes run. Every WebSocket connection stays open; what node0
// publishes during the outage reaches node0's own subscribers (on Redis
// its Publish reports the bus's refusal, counted in BusErrors), and each
// other node's subscribers miss exactly the messages that node counts as
// Lost. After the restart the nodes resubscribe by themselves.
func TestBusRestart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		bus  func(t *testing.T) restartableBus
	}{
		{"nats", func(t *testing.T) restartableBus {
			nats := startNATS(t)
			return restartableBus{natsFactory(nats), nats.stop, nats.start, func(t *testing.T, nodes []*node) {
				for _, n := range nodes {
					nc := n.bus.(*natsbus.Bus).Conn()
					waitUntil(t, n.name+" to reconnect to the bus", 20*time.Second, nc.IsConnected)
					if err := nc.Flush(); err != nil { // the resubscriptions have reached the server
						t.Fatal(err)
					}
				}
			}}
		}},
		{"redis", func(t *testing.T) restartableBus {
			r := startRedis(t)
			return restartableBus{redisFactory(r), r.stop, r.start, func(t *testing.T, nodes []*node) {
				rc := redis.NewClient(&redis.Options{Addr: r.addr})
				defer rc.Close()
				waitUntil(t, "every node to resubscribe", 30*time.Second, func() bool {
					n, err := rc.PubSubNumSub(context.Background(), "wsio.news").Result()
					return err == nil && n["wsio.news"] == int64(len(nodes))
				})
				// The client's pool, after failing to dial, keeps failing
				// publishes until its own retry (every second) reconnects.
				for _, n := range nodes {
					waitUntil(t, n.name+" to publish again", 10*time.Second, func() bool {
						return n.bus.Publish("wsio.restart-probe", nil) == nil
					})
				}
			}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			busRestart(t, tc.bus(t))
		})
	}
}

// restartableBus is a bus server for TestBusRestart: the factory of its
// clients, how to stop and restart it, and how to wait until every node
// has resubscribed after a restart.
type restartableBus struct {
	newBus        busFactory
	stop, restart func()
	back          func(t *testing.T, nodes []*node)
}

func busRestart(t *testing.T, bus restartableBus) {
	nodes := startCluster(t, bus.newBus, nodeConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var subs []*sub
	for _, n := range nodes {
		for range 2 {
			subs = append(subs, newSub(t, ctx, subURL("ws", n.addr, "news"), nil, false))
		}
	}
	defer func() {
		for _, s := range subs {
			s.stop()
		}
	}()
	logOnFailure(t, nodes, subs)
	awaitRoutes(t, nodes, subs, "news")

	const before, during, after = 100, 100, 100
	nodes[0].publish(t, "news", "pub", 0, before, 0)
	waitUntil(t, "every subscriber to get the messages before the outage", 20*time.Second, func() bool {
		for _, s := range subs {
			if s.got("pub") != before {
				return false
			}
		}
		return true
	})
	bus.stop()
	if _, ok := nodes[0].bus.(*natsbus.Bus); ok {
		for _, n := range nodes {
			nc := n.bus.(*natsbus.Bus).Conn()
			waitUntil(t, n.name+" to see the bus go", 10*time.Second, func() bool { return !nc.IsConnected() })
		}
		nodes[0].publish(t, "news", "pub", before, during, 0) // the client buffers them
	} else {
		// Redis: each Publish fails, and node0's own subscribers get it.
		busErrors := nodes[0].hub.Metrics().BusErrors
		for i := before; i < before+during; i++ {
			msg := fmt.Sprintf("pub:%d:%d", i, time.Now().UnixNano())
			if err := nodes[0].hub.Publish(ctx, "news", wsio.Text, []byte(msg)); err == nil {
				t.Fatalf("publish %d with the Redis server gone: no error", i)
			}
		}
		if got := nodes[0].hub.Metrics().BusErrors - busErrors; got != during {
			t.Errorf("BusErrors grew by %d during the outage, want %d", got, during)
		}
	}
	bus.restart()
	bus.back(t, nodes)
	nodes[0].publish(t, "news", "pub", before+during, after, 0)
	waitUntil(t, "every subscriber to get the last message", 20*time.Second, func() bool {
		for _, s := range subs {
			if s.lastSeq("pub") != before+during+after-1 {
				return false
			}
		}
		return true
	})
	for i, s := range subs {
		s.mu.Lock()
		missed := before + during + after - s.count["pub"]
		if len(s.closes) != 0 || len(s.disorder) != 0 {
			t.Errorf("subscriber %d on %s: closed %v, out of order %v; want it open, in order", i, s.nodes[0], s.closes, s.disorder)
		}
		lost := nodes[i/2].hub.Metrics().Lost
		switch {
		case s.nodes[0] == "node0" && missed != 0:
			t.Errorf("subscriber %d on node0 missed %v; the publisher's own node loses nothing", i, s.gaps)
		case uint64(missed) != lost:
			t.Errorf("subscriber %d on %s missed %d (%v), but its node counts %d lost", i, s.nodes[0], missed, s.gaps, lost)
		}
		t.Logf("subscriber %d on %s: missed %d of the %d published during the outage (%v); node Lost=%d",
			i, s.nodes[0], missed, during, s.gaps, lost)
		s.mu.Unlock()
	}
}

// TestSlowSubscriber: a subscriber that stops reading gets the policy
// (drop, or disconnect with 1013 or 1008), counted in the metrics, while
// the other subscribers get every message with unchanged latency.
func TestSlowSubscriber(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		policy cluster.Policy
		code   wsio.StatusCode
	}{
		{"drop", cluster.Drop, 0},
		{"disconnect-1013", cluster.Disconnect, wsio.StatusTryAgainLater},
		{"disconnect-1008", cluster.Disconnect, wsio.StatusPolicyViolation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nats := startNATS(t)
			cfg := nodeConfig{hub: cluster.Options{QueueLen: 32, Policy: tc.policy, CloseCode: tc.code}, sndbuf: 16 << 10}
			n0 := startNode(t, "node0", natsFactory(nats), cfg)
			n1 := startNode(t, "node1", natsFactory(nats), cfg)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			fast := []*sub{
				newSub(t, ctx, subURL("ws", n0.addr, "news"), nil, false),
				newSub(t, ctx, subURL("ws", n1.addr, "news"), nil, false),
			}
			defer func() {
				for _, s := range fast {
					s.stop()
				}
			}()
			awaitRoutes(t, []*node{n0, n1}, fast, "news")

			// Baseline: latency with no slow subscriber.
			const base, slowPhase = 200, 600
			n0.publish(t, "news", "pub", 0, base, 2*time.Millisecond)
			waitUntil(t, "the baseline", 20*time.Second, func() bool { return fast[1].got("pub") == base })
			p50base := percentile(fast[1], 0, base, 0.5)

			// A subscriber on node1 that never reads, with a tiny receive
			// window; messages are 8 KiB of text so the sockets fill.
			slow, _, err := wsio.Dial(ctx, subURL("ws", n1.addr, "news"), &wsio.DialOptions{NetDial: smallRcvbuf})
			if err != nil {
				t.Fatal(err)
			}
			defer slow.CloseNow()
			waitUntil(t, "node1 to hold the slow subscriber", 10*time.Second, func() bool { return n1.hub.Metrics().Conns == 2 })
			big := make([]byte, 8<<10)
			for i := range big {
				big[i] = 'x'
			}
			for i := base; i < base+slowPhase; i++ {
				msg := []byte("pub:" + itoa(i) + ":" + itoa64(time.Now().UnixNano()) + ":")
				msg = append(msg, big...)
				if err := n0.hub.Publish(ctx, "news", wsio.Text, msg); err != nil {
					t.Fatal(err)
				}
				time.Sleep(2 * time.Millisecond)
			}
			waitUntil(t, "the fast subscribers to get everything", 30*time.Second, func() bool {
				return fast[0].got("pub") == base+slowPhase && fast[1].got("pub") == base+slowPhase
			})
			p50slow := percentile(fast[1], base, base+slowPhase, 0.5)
			t.Logf("fast subscriber on node1: p50 latency %v without the slow subscriber, %v with it", p50base, p50slow)
			if p50slow > 5*p50base+20*time.Millisecond {
				t.Errorf("the slow subscriber raised the others' p50 latency from %v to %v", p50base, p50slow)
			}
			for i, s := range fast {
				s.mu.Lock()
				if len(s.gaps) > 0 || len(s.disorder) > 0 || len(s.closes) > 0 {
					t.Errorf("fast subscriber %d: gaps %v, disorder %v, closes %v", i, s.gaps, s.disorder, s.closes)
				}
				s.mu.Unlock()
			}
			m := n1.hub.Metrics()
			t.Logf("node1 metrics: %+v", m)
			if tc.policy == cluster.Drop {
				if m.Dropped == 0 || m.Disconnected != 0 || slow.State() != wsio.Open {
					t.Errorf("drop policy: metrics %+v, slow connection state %v; want drops and the connection open", m, slow.State())
				}
				return
			}
			if m.Disconnected != 1 || m.Dropped != 0 {
				t.Errorf("disconnect policy: metrics %+v; want one disconnect", m)
			}
			// The slow client now reads: it drains what was buffered and
			// finds the connection ended.
			rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
			defer rcancel()
			for {
				if _, err := slow.Next(rctx); err != nil {
					t.Logf("the slow subscriber's connection ended: %v", err)
					if code := closeCode(err); code != tc.code && code != wsio.StatusAbnormalClosure {
						t.Errorf("slow subscriber closed with %v, want %v (or 1006 if the close frame could not be sent in CloseTimeout)", code, tc.code)
					}
					break
				}
			}
		})
	}
}

// TestDrain: Shutdown on node2 sends its subscribers 1001; they reconnect
// through HAProxy to the other nodes and keep receiving.
func TestDrain(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nodes, subs := balancedSubscribers(t, ctx)
	defer func() {
		for _, s := range subs {
			s.stop()
		}
	}()
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	if err := nodes[2].srv.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	drained := 0
	for i, s := range subs {
		s.mu.Lock()
		on := s.nodes[0]
		s.mu.Unlock()
		if on != "node2" {
			continue
		}
		drained++
		waitUntil(t, "a drained subscriber to reconnect", 20*time.Second, func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return len(s.nodes) == 2
		})
		s.mu.Lock()
		if code := closeCode(s.closes[0]); code != wsio.StatusGoingAway || s.nodes[1] == "node2" {
			t.Errorf("drained subscriber %d: closed with %v (%v), reconnected to %s; want 1001 and another node", i, code, s.closes[0], s.nodes[1])
		}
		s.mu.Unlock()
	}
	if drained == 0 {
		t.Fatal("HAProxy put no subscriber on node2")
	}
	nodes[0].publish(t, "news", "after", 0, 10, 0)
	waitUntil(t, "every subscriber to get the messages after the drain", 20*time.Second, func() bool {
		for _, s := range subs {
			if s.got("after") != 10 {
				return false
			}
		}
		return true
	})
}

// percentile is the q-quantile of s's latencies of messages from index
// lo to hi (in arrival order).
func percentile(s *sub, lo, hi int, q float64) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := slices.Clone(s.lat[lo:min(hi, len(s.lat))])
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	if len(l) == 0 {
		return 0
	}
	return l[int(q*float64(len(l)-1))]
}

// balancedSubscribers starts three nodes on an embedded nats-server behind
// HAProxy, and six reconnecting subscribers to "news" through HAProxy,
// returning once every node routes the topic to them. The caller stops
// the subscribers.
func balancedSubscribers(t *testing.T, ctx context.Context) ([]*node, []*sub) {
	t.Helper()
	nats := startNATS(t)
	nodes := startCluster(t, natsFactory(nats), nodeConfig{})
	lb := startHAProxy(t, addrs(nodes))
	var subs []*sub
	for range 6 {
		subs = append(subs, newSub(t, ctx, subURL("ws", lb.addr, "news"), nil, true))
	}
	logOnFailure(t, nodes, subs)
	awaitRoutes(t, nodes, subs, "news")
	return nodes, subs
}
