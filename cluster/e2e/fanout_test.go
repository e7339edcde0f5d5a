package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wsio/wsio/cluster"
)

// startCluster starts three nodes on the bus.
func startCluster(t *testing.T, newBus busFactory, cfg nodeConfig) []*node {
	var nodes []*node
	for i := range 3 {
		nodes = append(nodes, startNode(t, fmt.Sprintf("node%d", i), newBus, cfg))
	}
	return nodes
}

// awaitRoutes publishes probes from every node until every subscriber has
// one from each: then every node is subscribed on the bus.
func awaitRoutes(t *testing.T, nodes []*node, subs []*sub, topic string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		for _, n := range nodes {
			n.publish(t, topic, "probe-"+n.name, i, 1, 0)
		}
		ready := true
		for _, s := range subs {
			for _, n := range nodes {
				if s.got("probe-"+n.name) == 0 {
					ready = false
				}
			}
		}
		if ready {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the nodes did not all subscribe on the bus within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFanOutThroughHAProxy: three nodes behind HAProxy, subscribers spread
// over them by the balancer, three publishers (one per node) publishing
// 10,000 messages in all to one topic: every subscriber gets every
// message, in order per publisher, on both buses.
func TestFanOutThroughHAProxy(t *testing.T) {
	for _, bus := range []string{"nats", "redis"} {
		t.Run(bus, func(t *testing.T) {
			const total, perNode = 10000, 3
			var newBus busFactory
			if bus == "nats" {
				newBus = natsFactory(startNATS(t))
			} else {
				newBus = redisFactory(startRedis(t))
			}
			nodes := startCluster(t, newBus, nodeConfig{hub: cluster.Options{QueueLen: total + 100}})
			lb := startHAProxy(t, addrs(nodes))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()

			var subs []*sub
			for range perNode * len(nodes) {
				subs = append(subs, newSub(t, ctx, subURL("ws", lb.addr, "news"), fromLoopback2(), false))
			}
			defer func() {
				for _, s := range subs {
					s.stop()
				}
			}()
			spread := map[string]int{}
			for _, s := range subs {
				spread[s.node()]++
				if ip := s.clientIP[0]; ip != "127.0.0.2" {
					t.Errorf("the handler saw client address %s through HAProxy, want 127.0.0.2 (the forged X-Forwarded-For must be ignored)", ip)
				}
			}
			for _, n := range nodes {
				if spread[n.name] != perNode {
					t.Fatalf("HAProxy spread the subscribers %v, want %d on each node", spread, perNode)
				}
			}
			logOnFailure(t, nodes, subs)
			awaitRoutes(t, nodes, subs, "news")

			start := time.Now()
			var wg sync.WaitGroup
			counts := []int{total - 2*(total/3), total / 3, total / 3}
			for i, n := range nodes {
				wg.Go(func() { n.publish(t, "news", n.name, 0, counts[i], 0) })
			}
			wg.Wait()
			waitUntil(t, "every subscriber to get every message", 90*time.Second, func() bool {
				for _, s := range subs {
					for i, n := range nodes {
						if s.got(n.name) < counts[i] {
							return false
						}
					}
				}
				return true
			})
			t.Logf("%s: %d messages to %d subscribers on 3 nodes in %v", bus, total, len(subs), time.Since(start).Round(time.Millisecond))
			for i, s := range subs {
				s.mu.Lock()
				if len(s.gaps) > 0 || len(s.disorder) > 0 {
					t.Errorf("subscriber %d (%s): gaps %v, out of order %v", i, s.nodes[0], s.gaps, s.disorder)
				}
				for j, n := range nodes {
					if s.count[n.name] != counts[j] {
						t.Errorf("subscriber %d got %d messages from %s, want %d", i, s.count[n.name], n.name, counts[j])
					}
				}
				s.mu.Unlock()
			}
			for _, n := range nodes {
				m := n.hub.Metrics()
				if m.Lost != 0 || m.Dropped != 0 || m.Disconnected != 0 || m.BusErrors != 0 || m.SendFailures != 0 {
					t.Errorf("%s metrics: %+v", n.name, m)
				}
			}
		})
	}
}
