package interop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/internal/wstest"
)

// TestChromiumHTTP2 is TestChromium with the page served over HTTPS with
// HTTP/2 (a self-signed certificate the browser is told to accept):
// Chromium opens the WebSocket as a stream of the page's HTTP/2 connection
// (RFC 8441), and the wsio server must see it as an HTTP/2.0 request.
// net/http's HTTP/2 server takes extended CONNECT only in a process that
// started with GODEBUG=http2xconnect=1, so without it the test runs itself
// in a child process of the test binary with the variable added.
func TestChromiumHTTP2(t *testing.T) {
	requirePeer(t, chromiumPeer)
	if !wsio.ExtendedConnectEnabled() {
		wstest.RerunWithGODEBUG(t, "TestChromiumHTTP2", "http2xconnect=1", 10*time.Minute)
		return
	}
	t.Run("plain", func(t *testing.T) { runChromium(t, false, true) })
	t.Run("deflate", func(t *testing.T) { runChromium(t, true, true) })
}

// selfSigned returns a TLS configuration with a certificate for 127.0.0.1
// made now, offering HTTP/2 and HTTP/1.1.
func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "wsio interop"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		NextProtos:   []string{"h2", "http/1.1"},
	}
}
