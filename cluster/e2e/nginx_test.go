package e2e

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/cluster"
	"github.com/wsio/wsio/internal/wstest"
)

// TestNginxTLS: nginx terminates TLS in front of three nodes on Redis
// (upgrade passed through to plain-HTTP upstreams) and closes connections
// idle for 2 s. Subscribers spread over the nodes get every message in
// order; the handler sees the client's real address from X-Forwarded-For;
// a client whose keepalive pings every 500 ms outlives the idle timeout,
// one without keepalive does not.
func TestNginxTLS(t *testing.T) {
	t.Parallel()
	redis := startRedis(t)
	const total = 1000
	cfg := nodeConfig{hub: cluster.Options{QueueLen: total + 100}} // the burst fits: nothing dropped
	cfg.server.KeepaliveInterval = -1                              // only the clients ping
	nodes := startCluster(t, redisFactory(redis), cfg)
	cert, pool := wstest.SelfSigned(t)
	certPEM, keyPEM := pemPair(t, cert.Certificate[0], cert.PrivateKey)
	const idle = 2 * time.Second
	lb := startNginx(t, addrs(nodes), certPEM, keyPEM, idle)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	dialOpts := func(keepalive time.Duration) *wsio.DialOptions {
		o := fromLoopback2()
		o.TLSConfig = &tls.Config{RootCAs: pool, ServerName: wstest.CertName}
		o.KeepaliveInterval = keepalive
		return o
	}
	var subs []*sub
	for range 6 {
		subs = append(subs, newSub(t, ctx, subURL("wss", lb.addr, "news"), dialOpts(500*time.Millisecond), false))
	}
	quiet := newSub(t, ctx, subURL("wss", lb.addr, "news"), dialOpts(-1), false)
	defer func() {
		for _, s := range append(subs, quiet) {
			s.stop()
		}
	}()
	spread := map[string]int{}
	for _, s := range subs {
		spread[s.node()]++
		if ip := s.clientIP[0]; ip != "127.0.0.2" {
			t.Errorf("the handler saw client address %s through nginx, want 127.0.0.2", ip)
		}
	}
	if len(spread) != 3 {
		t.Errorf("nginx spread the subscribers %v, want all three nodes", spread)
	}
	logOnFailure(t, nodes, subs)
	awaitRoutes(t, nodes, subs, "news")

	// Idle for twice the timeout: the quiet client is cut off, the
	// pinging ones are not.
	start := time.Now()
	waitUntil(t, "nginx to close the connection without keepalive", 4*idle, func() bool {
		quiet.mu.Lock()
		defer quiet.mu.Unlock()
		return len(quiet.closes) > 0
	})
	t.Logf("without keepalive, nginx closed the idle connection after %v: %v", time.Since(start).Round(10*time.Millisecond), quiet.closes[0])
	if d := time.Since(start); d < idle-500*time.Millisecond {
		t.Errorf("the quiet connection ended after %v, before the %v idle timeout", d, idle)
	}
	time.Sleep(2*idle - time.Since(start)) // the pinging clients stay idle (no data) past the timeout too
	nodes[1].publish(t, "news", "pub", 0, total, 0)
	waitUntil(t, "every pinging subscriber to get every message", 30*time.Second, func() bool {
		for _, s := range subs {
			if s.got("pub") != total {
				return false
			}
		}
		return true
	})
	for i, s := range subs {
		s.mu.Lock()
		if len(s.closes) > 0 || len(s.gaps) > 0 || len(s.disorder) > 0 {
			t.Errorf("subscriber %d on %s: closes %v, gaps %v, disorder %v", i, s.nodes[0], s.closes, s.gaps, s.disorder)
		}
		s.mu.Unlock()
	}
}
