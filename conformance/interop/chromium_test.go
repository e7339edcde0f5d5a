package interop

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsio/wsio"
)

// chromiumBlob is the size of the Blob the page sends and gets back.
const chromiumBlob = 8 << 20

// chromiumResult is what the page's runInterop reports (peers/chromium/page.html).
type chromiumResult struct {
	Errors     []string `json:"errors"`
	Protocol   string   `json:"protocol"`
	Extensions string   `json:"extensions"`
	TextOK     bool     `json:"textOK"`
	TextBytes  int      `json:"textBytes"`
	Sha256     string   `json:"sha256"`
	BackIsBlob bool     `json:"backIsBlob"`
	BackLen    int      `json:"backLen"`
	BlobOK     bool     `json:"blobOK"`
	UserAgent  string   `json:"userAgent"`
	Close      struct {
		Code     int    `json:"code"`
		Reason   string `json:"reason"`
		WasClean bool   `json:"wasClean"`
	} `json:"close"`
}

// serverLog is what the wsio echo server saw of the page.
type serverLog struct {
	mu       sync.Mutex
	conns    int
	protocol string
	proto    string // the upgrade request's protocol: HTTP/1.1 or HTTP/2.0
	verdict  string // "PASS" or "FAIL: ..."
	pageSum  string // the page's "sha256:" report
	blobSum  string // SHA-256 of the binary message wsio received
	blobLen  int64
	pingErr  error
	pinged   bool
	errs     []string
}

func (l *serverLog) errorf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, fmt.Sprintf(format, args...))
}

const chromiumCloseReason = "bye from wsio ✓"

// TestChromium: a page served by the test opens a WebSocket to a wsio echo
// server, sends multi-byte text and an 8 MiB Blob, checks both come back,
// reports PASS or FAIL in a text message; wsio pings the browser meanwhile
// and closes with 4003 once the verdict is in, and the page reports the
// close it saw. Twice: without and with permessage-deflate (Chromium always
// offers it; the wsio server accepts it only when configured to).
func TestChromium(t *testing.T) {
	requirePeer(t, chromiumPeer)
	t.Run("plain", func(t *testing.T) { runChromium(t, false, false) })
	t.Run("deflate", func(t *testing.T) { runChromium(t, true, false) })
}

// runChromium runs the page against a wsio server: over HTTP/1.1, or with
// h2 over HTTPS with HTTP/2, where wsio must see the WebSocket come as an
// HTTP/2.0 request (RFC 8441; see chromium_h2_test.go).
func runChromium(t *testing.T, deflate, h2 bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	log := &serverLog{}
	// Echoed binary goes back in 64 KiB frames; the 8 MiB Blob is
	// streamed through, never buffered.
	opts := wsio.Options{FragmentSize: 64 << 10}
	if deflate {
		opts.Compression = &wsio.Compression{}
	}
	ws := wsio.NewServer(wsio.ServerOptions{Options: opts, Subprotocols: []string{"wsio.v2"}}, func(c *wsio.Conn) {
		log.mu.Lock()
		log.conns++
		log.protocol = c.Subprotocol()
		log.proto = c.Request().Proto
		log.mu.Unlock()
		// The browser answers pings by itself; the pong is seen by the
		// Next loop below.
		go func() {
			pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
			defer pcancel()
			err := c.Ping(pctx, []byte("hello chromium"))
			log.mu.Lock()
			log.pinged, log.pingErr = true, err
			log.mu.Unlock()
		}()
		for {
			m, err := c.Next(ctx)
			if err != nil {
				return
			}
			switch {
			case m.Kind == wsio.Binary:
				w, err := c.BeginBinary(ctx)
				if err != nil {
					log.errorf("BeginBinary: %v", err)
					return
				}
				h := sha256.New()
				n, err := io.Copy(w, io.TeeReader(m, h))
				if err != nil {
					log.errorf("echoing the blob: %v", err)
					return
				}
				if err := w.Close(); err != nil {
					log.errorf("closing the echo: %v", err)
					return
				}
				log.mu.Lock()
				log.blobLen, log.blobSum = n, hex.EncodeToString(h.Sum(nil))
				log.mu.Unlock()
			case strings.HasPrefix(m.Text, "sha256:"):
				log.mu.Lock()
				log.pageSum = strings.TrimPrefix(m.Text, "sha256:")
				log.mu.Unlock()
			case m.Text == "PASS" || strings.HasPrefix(m.Text, "FAIL"):
				log.mu.Lock()
				log.verdict = m.Text
				log.mu.Unlock()
				if err := c.Close(4003, chromiumCloseReason); err != nil {
					log.errorf("Close: %v", err)
				}
				return
			default:
				if err := c.SendText(ctx, m.Text); err != nil {
					log.errorf("SendText: %v", err)
					return
				}
			}
		}
	})
	mux := http.NewServeMux()
	mux.Handle("/ws", ws)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(peersDir, "chromium", "page.html"))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	scheme := "http"
	if h2 {
		scheme = "https"
		hs.TLSConfig = selfSigned(t)
		go func() { _ = hs.ServeTLS(ln, "", "") }()
	} else {
		go func() { _ = hs.Serve(ln) }()
	}
	defer func() {
		_ = hs.Close()
		_ = ws.Shutdown(context.Background())
	}()

	url := fmt.Sprintf("%s://%s/", scheme, ln.Addr())
	p := startProc(t, "chromium", chromiumPeer.argv(url, strconv.Itoa(chromiumBlob), "wsio.v2,other", "60000"))
	ev := p.wait("result", 80*time.Second)
	var res chromiumResult
	if err := json.Unmarshal(ev.Result, &res); err != nil {
		t.Fatalf("result %s: %v", ev.Result, err)
	}
	if err := p.waitExit(20 * time.Second); err != nil {
		t.Errorf("the Chromium driver after the run: %v", err)
	}
	t.Logf("%s; extensions %q; text %d bytes, blob %d bytes; the page saw close %+v",
		res.UserAgent, res.Extensions, res.TextBytes, res.BackLen, res.Close)
	if got := strings.Contains(res.Extensions, "permessage-deflate"); got != deflate {
		t.Errorf("the page's extensions are %q; want permessage-deflate %v", res.Extensions, deflate)
	}

	log.mu.Lock()
	defer log.mu.Unlock()
	for _, e := range append(log.errs, res.Errors...) {
		t.Error(e)
	}
	if log.conns != 1 {
		t.Errorf("wsio accepted %d connections, want 1", log.conns)
	}
	if want := map[bool]string{false: "HTTP/1.1", true: "HTTP/2.0"}[h2]; log.proto != want {
		t.Errorf("wsio saw the WebSocket over %q, want %s", log.proto, want)
	}
	if res.Protocol != "wsio.v2" || log.protocol != "wsio.v2" {
		t.Errorf("subprotocol: page %q, wsio %q, want wsio.v2", res.Protocol, log.protocol)
	}
	if !res.TextOK {
		t.Errorf("the page's multi-byte text (%d bytes) did not come back equal", res.TextBytes)
	}
	if !res.BlobOK || !res.BackIsBlob || res.BackLen != chromiumBlob {
		t.Errorf("blob echo: equal %v, Blob %v, %d bytes back of %d", res.BlobOK, res.BackIsBlob, res.BackLen, chromiumBlob)
	}
	if log.blobLen != chromiumBlob || log.blobSum != res.Sha256 || log.pageSum != res.Sha256 {
		t.Errorf("blob: wsio read %d bytes with sha256 %s; the page sent sha256 %s (reported %q)",
			log.blobLen, log.blobSum, res.Sha256, log.pageSum)
	}
	if log.verdict != "PASS" {
		t.Errorf("the page's verdict: %q", log.verdict)
	}
	if !log.pinged || log.pingErr != nil {
		t.Errorf("Ping to the browser: done %v, error %v", log.pinged, log.pingErr)
	}
	if res.Close.Code != 4003 || res.Close.Reason != chromiumCloseReason || !res.Close.WasClean {
		t.Errorf("the page saw close %+v, want code 4003 reason %q, clean", res.Close, chromiumCloseReason)
	}
}
