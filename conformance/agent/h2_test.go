package agent_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/conformance/agent"
	"github.com/wsio/wsio/conformance/h2ws"
	"github.com/wsio/wsio/conformance/suite"
	"github.com/wsio/wsio/internal/wstest"
)

// TestHTTP2 runs the whole catalogue over HTTP/2 (RFC 8441), strict, in
// both roles: the engine's client against examples/echo -tls -deflate,
// and the wsio client (DialOptions.HTTP2) against the engine's fuzzing
// server; h2ws carries the engine's frames over the streams and refuses
// anything but an extended CONNECT, so no connection can fall back to
// HTTP/1.1 unseen. net/http's HTTP/2 server takes extended CONNECT only in
// a process started with GODEBUG=http2xconnect=1, so without it the test
// runs itself in a child process of the test binary with the variable
// added (examples/echo is started with it too). The reports go to
// $WSIO_REPORT_DIR/{client,server}-wsio-h2 when that is set;
// $WSIO_CASES (patterns such as 9.*,1.1.*) picks cases to run.
func TestHTTP2(t *testing.T) {
	if !wsio.ExtendedConnectEnabled() {
		wstest.RerunWithGODEBUG(t, "TestHTTP2", "http2xconnect=1", 25*time.Minute)
		return
	}
	t.Run("Server", h2Server)
	t.Run("Client", h2Client)
	t.Run("ClientLargeEcho", h2ClientLargeEcho)
}

// parallelQuick runs the roles side by side in the quick run only. At
// full size each role spends minutes compressing in the engine, so they
// run one after the other, as report.sh runs them over TCP, and each has
// the machine to itself within its time limit.
func parallelQuick(t *testing.T) {
	if quick() {
		t.Parallel()
	}
}

// h2Server runs every case with the engine as an HTTP/2 client against
// examples/echo -tls, which serves HTTP/2 and HTTP/1.1 on one port.
func h2Server(t *testing.T) {
	parallelQuick(t)
	addr := startEcho(t, "-tls")
	cases, err := suite.SelectCases(quick(), suite.ParseList(os.Getenv("WSIO_CASES")), nil)
	if err != nil {
		t.Fatal(err)
	}
	// examples/echo makes a self-signed certificate at start-up; the
	// engine dials it on loopback only.
	d := &h2ws.Dialer{TLSConfig: &tls.Config{InsecureSkipVerify: true}}
	defer d.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	rep := &suite.Report{Agent: "wsio-h2", Role: "client", Quick: quick(), Started: time.Now().UTC()}
	rep.Results = suite.RunClient(ctx, "wss://"+addr, cases, suite.RunOptions{
		Concurrency: 4,
		Engine:      suite.EngineConfig{Dial: d.Dial},
	})
	check(t, rep, len(cases))
}

// h2Client runs every case against the wsio client dialing with
// DialOptions.HTTP2, through the fuzzing server mounted on an HTTP/2
// server over TLS.
func h2Client(t *testing.T) {
	parallelQuick(t)
	cases, err := suite.SelectCases(quick(), suite.ParseList(os.Getenv("WSIO_CASES")), nil)
	if err != nil {
		t.Fatal(err)
	}
	runH2Client(t, cases, quick(), 8*time.Minute, true)
}

// h2ClientLargeEcho runs 9.2.5 and 9.2.6 at full size (8 and 16 MiB
// binary messages) against the wsio client over HTTP/2 even in the quick
// run: its echo streams each message back while it still arrives, which
// stalls when the server withholds the stream's window behind its own
// blocked DATA (see h2ws.ConfigureServer). The cases take well under a
// second each; the bound is far below their time limit so a stall fails
// fast.
func h2ClientLargeEcho(t *testing.T) {
	t.Parallel()
	cases, err := suite.SelectCases(false, []string{"9.2.5", "9.2.6"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runH2Client(t, cases, false, time.Minute, false)
}

// runH2Client serves cases from a fuzzing server on an HTTP/2 server over
// TLS, runs the wsio client (DialOptions.HTTP2) through them within
// limit, and checks the report; write says whether the report goes to
// $WSIO_REPORT_DIR.
func runH2Client(t *testing.T, cases []*suite.Case, quick bool, limit time.Duration, write bool) {
	reports := make(chan *suite.Report, 1)
	fs := &suite.FuzzServer{
		Cases:     cases,
		Quick:     quick,
		Engine:    suite.EngineConfig{Accept: h2ws.Accept},
		OnReports: func(r *suite.Report) { reports <- r },
	}
	ts := httptest.NewUnstartedServer(fs)
	ts.EnableHTTP2 = true
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	// Go's HTTP/2 server holds a stream's WINDOW_UPDATEs behind its
	// flow-blocked DATA, which stalls the streaming echo of family 9's
	// large messages; see h2ws.ConfigureServer.
	if err := h2ws.ConfigureServer(ts.Config); err != nil {
		t.Fatal(err)
	}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())

	opts := agent.ClientOptions()
	opts.HTTP2 = true
	opts.TLSConfig = &tls.Config{RootCAs: pool}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	base := "wss://" + strings.TrimPrefix(ts.URL, "https://")
	if err := agent.RunFuzzingServerWith(ctx, base, "wsio-h2", opts, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case rep := <-reports:
		rep.Started = time.Now().UTC()
		if write {
			check(t, rep, len(cases))
		} else {
			checkResults(t, rep, len(cases))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no report from the fuzzing server")
	}
}
