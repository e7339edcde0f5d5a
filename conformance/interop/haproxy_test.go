package interop

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/internal/wstest"
)

const haproxyPath = "/usr/sbin/haproxy"

var haproxyPeer = &peer{
	name: "haproxy",
	check: func() error {
		if _, err := os.Stat(haproxyPath); err != nil {
			return fmt.Errorf("%s is missing (Debian package haproxy)", haproxyPath)
		}
		return nil
	},
}

// TestHAProxyHTTP2 puts Debian's HAProxy between a wsio client and a wsio
// server, translating in both directions:
//   - h2-to-h1: the client speaks HTTP/2 over TLS to HAProxy (an RFC 8441
//     extended CONNECT, as a browser does), HAProxy speaks HTTP/1.1 (an
//     Upgrade) to the wsio server;
//   - h1-to-h2: the client speaks HTTP/1.1 to HAProxy, HAProxy speaks
//     HTTP/2 (h2c) to the wsio server, which takes the extended CONNECT.
//
// Each runs text, a 1 MiB binary message and a close code through, and
// checks which protocol each side used.
func TestHAProxyHTTP2(t *testing.T) {
	requirePeer(t, haproxyPeer)
	if !wsio.ExtendedConnectEnabled() {
		wstest.RerunWithGODEBUG(t, "TestHAProxyHTTP2", "http2xconnect=1", 10*time.Minute)
		return
	}
	type seen struct {
		mu     sync.Mutex
		protos []string
		closes []error
	}
	var h1seen, h2seen seen
	handler := func(s *seen) func(*wsio.Conn) {
		return func(c *wsio.Conn) {
			s.mu.Lock()
			s.protos = append(s.protos, c.Request().Proto)
			s.mu.Unlock()
			ctx := context.Background()
			for {
				m, err := c.Next(ctx)
				if err != nil {
					s.mu.Lock()
					s.closes = append(s.closes, err)
					s.mu.Unlock()
					return
				}
				if m.Kind == wsio.Text {
					err = c.SendText(ctx, m.Text)
				} else {
					var b []byte
					if b, err = io.ReadAll(m); err == nil {
						err = c.SendBinary(ctx, b)
					}
				}
				if err != nil {
					return
				}
			}
		}
	}

	// The wsio servers: HTTP/1.1 only, and h2c only.
	serve := func(s *seen, h2c bool) string {
		srv := wsio.NewServer(wsio.ServerOptions{}, handler(s))
		hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
		if h2c {
			hs.Protocols = new(http.Protocols)
			hs.Protocols.SetUnencryptedHTTP2(true)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = hs.Serve(ln) }()
		t.Cleanup(func() {
			_ = srv.Close()
			_ = hs.Close()
		})
		return ln.Addr().String()
	}
	h1Backend := serve(&h1seen, false)
	h2Backend := serve(&h2seen, true)

	// HAProxy's TLS certificate and key, in one PEM file.
	dir := t.TempDir()
	cfg := selfSigned(t)
	cert := cfg.Certificates[0]
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	pemFile := filepath.Join(dir, "haproxy.pem")
	pemData := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...)
	if err := os.WriteFile(pemFile, pemData, 0o600); err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)

	h2Front, h1Front := freeAddr(t), freeAddr(t)
	conf := fmt.Sprintf(`global
	maxconn 200
defaults
	mode http
	timeout connect 5s
	timeout client 30s
	timeout server 30s
	timeout tunnel 60s
frontend h2_to_h1
	bind %s ssl crt %s alpn h2,http/1.1
	default_backend wsio_h1
backend wsio_h1
	server s1 %s
frontend h1_to_h2
	bind %s
	default_backend wsio_h2
backend wsio_h2
	server s2 %s proto h2
`, h2Front, pemFile, h1Backend, h1Front, h2Backend)
	confFile := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(haproxyPath, "-db", "-f", confFile)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("haproxy:\n%s", out.String())
		}
	})
	for _, a := range []string{h2Front, h1Front} {
		waitListening(t, a)
	}

	for _, tc := range []struct {
		name     string
		url      string
		opts     *wsio.DialOptions
		clientH2 bool
		s        *seen
		backend  string
	}{
		{"h2-to-h1", "wss://" + h2Front + "/ws", &wsio.DialOptions{HTTP2: true, TLSConfig: &tls.Config{RootCAs: roots}}, true, &h1seen, "HTTP/1.1"},
		{"h1-to-h2", "ws://" + h1Front + "/ws", &wsio.DialOptions{}, false, &h2seen, "HTTP/2.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, resp, err := wsio.Dial(ctx, tc.url, tc.opts)
			if err != nil {
				t.Fatalf("Dial through HAProxy: %v", err)
			}
			if got := resp.ProtoMajor == 2; got != tc.clientH2 {
				t.Errorf("the client spoke %s to HAProxy", resp.Proto)
			}
			if err := c.SendText(ctx, "through haproxy ✓"); err != nil {
				t.Fatal(err)
			}
			if m, err := c.Next(ctx); err != nil || m.Text != "through haproxy ✓" {
				t.Fatalf("text echo: %q %v", m.Text, err)
			}
			data := make([]byte, 1<<20)
			_, _ = rand.Read(data)
			if err := c.SendBinary(ctx, data); err != nil {
				t.Fatal(err)
			}
			m, err := c.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(m)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("binary echo: %d bytes, %v", len(got), err)
			}
			if err := c.Close(4001, "bye through haproxy"); err != nil {
				t.Fatalf("Close: %v", err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				tc.s.mu.Lock()
				protos, closes := append([]string(nil), tc.s.protos...), append([]error(nil), tc.s.closes...)
				tc.s.mu.Unlock()
				if len(closes) > 0 {
					var ce *wsio.CloseError
					if len(protos) != 1 || protos[0] != tc.backend {
						t.Errorf("wsio's server saw %v, want one %s request", protos, tc.backend)
					}
					if !errors.As(closes[0], &ce) || ce.Code != 4001 || ce.Reason != "bye through haproxy" {
						t.Errorf("wsio's server saw the close %v, want 4001", closes[0])
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the server did not see the close")
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// freeAddr returns a loopback address with a port free just now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitListening waits until something accepts connections on addr.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
