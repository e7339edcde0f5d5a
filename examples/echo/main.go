// Command echo is a WebSocket echo server: text comes back as text, binary
// comes back as binary, streamed from the incoming message straight into
// an outgoing BeginBinary stream (never held whole). Conformance and
// interop tests run against it, so its flags are kept stable.
//
//	go run ./examples/echo -addr 127.0.0.1:9001
//	go run ./examples/echo -tls -v    # wss://, HTTP/1.1 and HTTP/2 (RFC 8441) on one port
//
// With -tls it serves through net/http over TLS, offering HTTP/2 and
// HTTP/1.1 in ALPN, with the certificate in -cert and -key or, without
// them, a self-signed one made at start-up for localhost, 127.0.0.1 and
// ::1. WebSockets over HTTP/2 need the process to start with
// GODEBUG=http2xconnect=1; when it did not, echo runs itself again with it.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/wsio/wsio"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "address to listen on")
	maxBuf := flag.Int64("max", 16<<20, "buffer cap in bytes: the largest text message accepted (larger ones close with 1009)")
	frag := flag.Int("frag", 0, "fragment size for echoed binary messages (0: the default, 512 KiB)")
	quiet := flag.Bool("quiet", false, "do not log connections")
	deflate := flag.Bool("deflate", false, "accept permessage-deflate with the default settings (inflated bytes count against -max)")
	useTLS := flag.Bool("tls", false, "serve wss:// with HTTP/1.1 and HTTP/2 on one port")
	certFile := flag.String("cert", "", "with -tls: certificate file (default: a self-signed one)")
	keyFile := flag.String("key", "", "with -tls: key file")
	verbose := flag.Bool("v", false, "log one line per connection as it opens, naming its protocol (HTTP/1.1 or HTTP/2.0)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file until the process is interrupted (SIGINT or SIGTERM)")
	flag.Parse()
	if *useTLS && !wsio.ExtendedConnectEnabled() {
		rerunWithXConnect()
	}
	if *cpuProfile != "" {
		profileCPU(*cpuProfile)
	}

	opts := wsio.Options{BufferCap: *maxBuf, FragmentSize: *frag}
	if *deflate {
		opts.Compression = &wsio.Compression{}
	}
	srv := wsio.NewServer(wsio.ServerOptions{
		Options:        opts,
		OriginPatterns: []string{"*"},
	}, func(c *wsio.Conn) {
		if *verbose {
			log.Printf("%v: open over %s, path %s", c.RemoteAddr(), c.Request().Proto, c.Path())
		}
		err := echo(c)
		if !*quiet {
			log.Printf("%v: %v", c.RemoteAddr(), err)
		}
	})
	if *useTLS {
		cert, err := certificate(*certFile, *keyFile)
		if err != nil {
			log.Fatal(err)
		}
		hs := &http.Server{
			Addr:              *addr,
			Handler:           srv,
			ReadHeaderTimeout: 10 * time.Second,
			TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}},
		}
		log.Printf("echo server listening on wss://%s (HTTP/1.1 and HTTP/2)", *addr)
		if err := hs.ListenAndServeTLS("", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
		return
	}
	log.Printf("echo server listening on ws://%s", *addr)
	if err := srv.ListenAndServe(*addr); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// rerunWithXConnect runs this program again with GODEBUG=http2xconnect=1,
// which net/http reads at start-up, and exits with its status.
func rerunWithXConnect() {
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), "GODEBUG="+os.Getenv("GODEBUG")+",http2xconnect=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		os.Exit(ee.ExitCode())
	}
	if err != nil {
		log.Fatal(err)
	}
	os.Exit(0)
}

// profileCPU writes a CPU profile to file; the profile is complete once
// the process has been interrupted (SIGINT or SIGTERM), when it exits.
func profileCPU(file string) {
	f, err := os.Create(file)
	if err != nil {
		log.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Fatal(err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			log.Fatal(err)
		}
		os.Exit(0)
	}()
}

// certificate loads the certificate and key, or makes a self-signed
// certificate for localhost when both are empty.
func certificate(certFile, keyFile string) (tls.Certificate, error) {
	if certFile != "" || keyFile != "" {
		return tls.LoadX509KeyPair(certFile, keyFile)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "wsio echo"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// echo answers every message with itself until the connection ends.
func echo(c *wsio.Conn) error {
	ctx := context.Background()
	for {
		m, err := c.Next(ctx)
		if err != nil {
			return err
		}
		switch m.Kind {
		case wsio.Text:
			err = c.SendText(ctx, m.Text)
		case wsio.Binary:
			err = stream(ctx, c, m)
		}
		if err != nil {
			return err
		}
	}
}

func stream(ctx context.Context, c *wsio.Conn, m wsio.Message) error {
	w, err := c.BeginBinary(ctx)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, m); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}
