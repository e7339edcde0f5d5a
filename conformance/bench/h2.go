package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wsio/wsio"
)

// The h2 benchmark compares opening and holding WebSockets over HTTP/2
// (RFC 8441: every socket a stream of one TLS connection) with HTTP/1.1
// (a TCP connection and a TLS handshake each), wsio on both ends.

// wsioH1TLSLib is wsio.Server under net/http over TLS offering HTTP/1.1
// only, dialed with wss://.
var wsioH1TLSLib = &library{
	name:    "wsio-h1-tls",
	handler: func(s *serverState) http.Handler { return wsioServer(s) },
	tls:     func(hs *http.Server) { serveTLS(hs, false) },
	dial:    func(ctx context.Context, addr string) (cliConn, error) { return wsioDialTLS(ctx, addr, false) },
	notes: "wsio.Server on net/http over TLS, HTTP/1.1 only (ALPN http/1.1); the client dials wss:// with one TCP " +
		"connection and TLS handshake per WebSocket",
}

// wsioH2Lib is the same server offering HTTP/2, dialed with
// DialOptions.HTTP2: all the client's WebSockets are streams of one
// HTTP/2 connection.
var wsioH2Lib = &library{
	name:    "wsio-h2",
	handler: func(s *serverState) http.Handler { return wsioServer(s) },
	tls:     func(hs *http.Server) { serveTLS(hs, true) },
	dial:    func(ctx context.Context, addr string) (cliConn, error) { return wsioDialTLS(ctx, addr, true) },
	notes: "wsio.Server on net/http over TLS with HTTP/2 (GODEBUG=http2xconnect=1, default http.Server HTTP/2 settings); " +
		"the client dials with DialOptions.HTTP2, so every WebSocket is an RFC 8441 stream of one shared TLS connection",
}

// serveTLS gives hs a self-signed certificate made now and, with h2,
// HTTP/2 beside HTTP/1.1.
func serveTLS(hs *http.Server, h2 bool) {
	cert, err := selfSigned()
	if err != nil {
		panic(err) // a child's set-up; the parent sees the child fail
	}
	hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	hs.Protocols = new(http.Protocols)
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetHTTP2(h2)
}

// benchTLS is the clients' TLS configuration, one value for all dials:
// wsio shares an HTTP/2 connection among the Dials with the same
// TLSConfig. The server's certificate is made at its start-up, on
// loopback.
var benchTLS = &tls.Config{InsecureSkipVerify: true}

func wsioDialTLS(ctx context.Context, addr string, h2 bool) (cliConn, error) {
	c, resp, err := wsio.Dial(ctx, "wss://"+addr+"/", &wsio.DialOptions{TLSConfig: benchTLS, HTTP2: h2})
	if err != nil {
		return nil, err
	}
	if want := map[bool]string{false: "HTTP/1.1", true: "HTTP/2.0"}[h2]; resp.Proto != want {
		_ = c.CloseNow()
		return nil, fmt.Errorf("the WebSocket opened over %s, want %s", resp.Proto, want)
	}
	return &wsioConn{c: c, client: true}, nil
}

// selfSigned returns a certificate for 127.0.0.1 made now.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "wsio bench"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// h2 measures opening -h2conns WebSockets over HTTP/2 and over HTTP/1.1
// (TLS in both), and what they cost both processes once idle.
func (r *runner) h2() error {
	// net/http's HTTP/2 server takes extended CONNECT only in a process
	// started with this; the server children inherit it.
	if !strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1") {
		godebug := os.Getenv("GODEBUG")
		if godebug != "" {
			godebug += ","
		}
		if err := os.Setenv("GODEBUG", godebug+"http2xconnect=1"); err != nil {
			return err
		}
	}
	k := r.cfg.h2Conns
	t := r.report.table("h2", fmt.Sprintf("WebSocket over HTTP/2 vs HTTP/1.1, TLS in both: opening %d WebSockets and holding them idle (lower is better)", k), "", false)
	t.note = "The client opens K WebSockets (32 dialers), each echoing 16 B once, and holds them open and silent; " +
		"the figures are read " + r.cfg.idleWait.String() + " later, after runtime/debug.FreeOSMemory, as " +
		"(value with K open − value before) / K, for the server and for the client process. " +
		"Open time: the client's wall time to open and echo on all K, per WebSocket. CPU per open: both processes' " +
		"CPU time (user + system) over the opening, per WebSocket. Go heap = runtime.MemStats.HeapInuse."
	t.cols = []string{wsioH1TLSLib.name, wsioH2Lib.name}
	rows := []string{
		"open time, µs per WebSocket", "CPU per open, µs (client + server)",
		"server RSS KiB/WebSocket", "server Go heap KiB/WebSocket", "server goroutines/WebSocket",
		"client RSS KiB/WebSocket", "client Go heap KiB/WebSocket", "client goroutines/WebSocket",
	}
	for _, row := range rows {
		t.addRow(row)
	}
	return r.eachRound(t, "h2", func(lib string, round int) error { return r.h2One(t, rows, lib, round, k) })
}

func (r *runner) h2One(t *table, rows []string, lib string, round, k int) error {
	srv, addr, err := r.startServer(lib, "echo")
	if err != nil {
		return err
	}
	defer srv.Stop()
	s0, err := srv.stats()
	if err != nil {
		return err
	}
	cpu0, err := srv.cpu()
	if err != nil {
		return err
	}
	cli, err := r.startClient(lib, "idle", addr, "-conns", strconv.Itoa(k))
	if err != nil {
		return err
	}
	defer cli.Stop()
	var ready clientResult
	if err := cli.expectJSON("READY", 5*time.Minute, &ready); err != nil {
		return err
	}
	if ready.Base == nil {
		return fmt.Errorf("the client sent no figures from before its dials")
	}
	cpu1, err := srv.cpu()
	if err != nil {
		return err
	}
	select {
	case <-time.After(r.cfg.idleWait):
	case <-r.ctx.Done():
		return r.ctx.Err()
	}
	s1, err := srv.stats()
	if err != nil {
		return err
	}
	c1, err := cli.stats()
	if err != nil {
		return err
	}
	c0 := *ready.Base
	fk := float64(k)
	srvCPU := float64(cpu1 - cpu0)
	t.add(rows[0], lib, ready.Secs*1e6/fk)
	t.add(rows[1], lib, (float64(ready.CPUNs)+srvCPU)/1e3/fk)
	t.add(rows[2], lib, float64(s1.RSSKiB-s0.RSSKiB)/fk)
	t.add(rows[3], lib, (float64(s1.HeapInuse)-float64(s0.HeapInuse))/1024/fk)
	t.add(rows[4], lib, float64(s1.Goroutines-s0.Goroutines)/fk)
	t.add(rows[5], lib, float64(c1.RSSKiB-c0.RSSKiB)/fk)
	t.add(rows[6], lib, (float64(c1.HeapInuse)-float64(c0.HeapInuse))/1024/fk)
	t.add(rows[7], lib, float64(c1.Goroutines-c0.Goroutines)/fk)
	r.progress("h2 %s round %d: open %.2fs; server heap %d→%d, goroutines %d→%d; client heap %d→%d, goroutines %d→%d",
		lib, round, ready.Secs, s0.HeapInuse, s1.HeapInuse, s0.Goroutines, s1.Goroutines,
		c0.HeapInuse, c1.HeapInuse, c0.Goroutines, c1.Goroutines)
	return nil
}
