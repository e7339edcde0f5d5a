// Command wscat is a small WebSocket client and server for the terminal.
// Each line of standard input is sent as a text message; received text
// messages are printed to standard output, one per line, and binary ones
// as "<binary N bytes>" (or written to a file with -o). Pings, pongs,
// progress and the close code go to standard error. Ctrl-D (end of input)
// closes the connection with 1000 (normal closure) at once: as with a
// browser's close(), messages still on their way in are dropped.
//
//	go run ./examples/wscat -c ws://127.0.0.1:9001/               # connect
//	go run ./examples/wscat -c wss://example.com/ -H 'Authorization: Bearer x' -protocol chat
//	go run ./examples/wscat -l 127.0.0.1:9002                      # listen, one connection at a time
//	go run ./examples/wscat -c ws://127.0.0.1:9001/ -send-file big.iso -o echoed.iso
//	go run ./examples/wscat -c wss://127.0.0.1:9001/ -insecure -http2  # over HTTP/2 (RFC 8441)
//
// -send-file sends the file as one binary message, streamed with
// BeginBinary and io.Copy (never read into memory), shows its progress,
// waits for the peer's next message (its reply), then closes.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsio/wsio"
)

type config struct {
	connect   string
	listen    string
	header    http.Header
	protocols []string
	insecure  bool
	out       string
	sendFile  string
	ping      time.Duration
	http2     bool

	outFile *os.File // -o, opened once
}

func main() {
	cfg := config{header: http.Header{}}
	flag.StringVar(&cfg.connect, "c", "", "connect to this ws:// or wss:// URL")
	flag.StringVar(&cfg.listen, "l", "", "listen on this address (host:port) and serve one connection at a time")
	flag.Func("H", "extra request header `Name: value` (repeatable; with -c)", func(s string) error {
		name, value, ok := strings.Cut(s, ":")
		if !ok {
			return errors.New(`want "Name: value"`)
		}
		cfg.header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
		return nil
	})
	protocol := flag.String("protocol", "", "subprotocols to offer (-c) or accept (-l), comma-separated")
	flag.BoolVar(&cfg.insecure, "insecure", false, "do not verify the server's TLS certificate (wss://)")
	flag.StringVar(&cfg.out, "o", "", "write received binary messages to this `file` instead of summarizing them")
	flag.StringVar(&cfg.sendFile, "send-file", "", "send this `file` as one binary message, wait for the reply, and close")
	flag.DurationVar(&cfg.ping, "ping", 0, "send a ping this often and show the pongs (0: never)")
	flag.BoolVar(&cfg.http2, "http2", false, "with -c: open the WebSocket over HTTP/2 (RFC 8441; h2c for ws://), falling back to HTTP/1.1")
	flag.Parse()
	if *protocol != "" {
		cfg.protocols = strings.Split(*protocol, ",")
	}
	if (cfg.connect == "") == (cfg.listen == "") || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: wscat -c URL | -l ADDR [flags]")
		flag.PrintDefaults()
		os.Exit(2)
	}
	if cfg.out != "" {
		f, err := os.Create(cfg.out)
		if err != nil {
			fatal(err)
		}
		defer f.Close()
		cfg.outFile = f
	}

	var err error
	if cfg.connect != "" {
		err = connect(&cfg)
	} else {
		err = listen(&cfg)
	}
	if err != nil {
		cfg.outFile.Close()
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "wscat:", err)
	os.Exit(1)
}

// options are the connection settings of both modes: show every ping and
// pong the peer sends, and send our own with -ping.
func (cfg *config) options() wsio.Options {
	return wsio.Options{
		OnPing:            func(p []byte) { fmt.Fprintf(os.Stderr, "< ping %q (answered)\n", p) },
		OnPong:            func(p []byte) { fmt.Fprintf(os.Stderr, "< pong %q\n", p) },
		KeepaliveInterval: cfg.ping,
		BufferCap:         64 << 20, // text messages up to 64 MiB
	}
}

// connect dials the URL and runs one session.
func connect(cfg *config) error {
	opts := &wsio.DialOptions{
		Options:      cfg.options(),
		Header:       cfg.header,
		Subprotocols: cfg.protocols,
		HTTP2:        cfg.http2,
	}
	if cfg.insecure {
		opts.TLSConfig = &tls.Config{InsecureSkipVerify: true}
	}
	c, resp, err := wsio.Dial(context.Background(), cfg.connect, opts)
	if err != nil {
		// A refused handshake comes with the server's response.
		if resp != nil {
			body, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("%w\n%s\n%s", err, resp.Status, strings.TrimSpace(string(body)))
		}
		return err
	}
	over := ""
	if resp.ProtoMajor == 2 {
		over = " over HTTP/2"
	}
	fmt.Fprintf(os.Stderr, "connected to %s (%s)%s%s\n", cfg.connect, resp.Status, over, describeProtocol(c))
	var lines <-chan string // nil with -send-file: standard input is not read
	if cfg.sendFile == "" {
		lines, _ = stdinLines()
	}
	if err := session(c, cfg, lines); err != errFinished {
		return err
	}
	return nil
}

// listen serves WebSocket upgrades on every path, one connection at a
// time: while one is open, others are refused with 503.
func listen(cfg *config) error {
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "listening on ws://%s/\n", ln.Addr())
	lines, eof := stdinLines()
	var busy sync.Mutex
	done := make(chan error, 2)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !busy.TryLock() {
			http.Error(w, "wscat: busy with another connection", http.StatusServiceUnavailable)
			return
		}
		defer busy.Unlock()
		// Accept upgrades the request; the connection lives on this
		// handler's goroutine until the session ends.
		c, err := wsio.Accept(w, r, &wsio.ServerOptions{
			Options:        cfg.options(),
			Subprotocols:   cfg.protocols,
			OriginPatterns: []string{"*"}, // a debugging tool: any page may connect
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "refused:", err)
			return
		}
		fmt.Fprintf(os.Stderr, "connection from %v%s\n", c.RemoteAddr(), describeProtocol(c))
		if err := session(c, cfg, lines); err != nil {
			select {
			case done <- err: // the input ended, or -send-file finished: stop
			default:
			}
		}
	})
	go func() { done <- http.Serve(ln, h) }()
	select {
	case err = <-done:
	case <-eof:
		if busy.TryLock() {
			err = errFinished // no connection to close
		} else {
			err = <-done // the open session sees the input end and closes
		}
	}
	ln.Close()
	if err == errFinished {
		return nil
	}
	return err
}

func describeProtocol(c *wsio.Conn) string {
	if p := c.Subprotocol(); p != "" {
		return " (protocol " + p + ")"
	}
	return ""
}

// errFinished ends wscat after a session it closed itself: at the end of
// standard input, or after -send-file got its reply.
var errFinished = errors.New("finished")

// stdinLines returns standard input's lines, one at a time as they are
// taken; at the end of input it closes both channels.
func stdinLines() (lines <-chan string, eof <-chan struct{}) {
	ch, end := make(chan string), make(chan struct{})
	go func() {
		defer close(end)
		defer close(ch)
		sc := bufio.NewScanner(os.Stdin)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch, end
}

// session runs one connection: a goroutine prints what arrives, this one
// sends standard input's lines (or the -send-file file). It returns
// errFinished when it closed the connection itself (the input ended, or
// the file was sent and answered), and nil when the peer closed it.
func session(c *wsio.Conn, cfg *config, lines <-chan string) error {
	ctx := context.Background()
	var received atomic.Int64 // data messages printed so far
	var weClosed atomic.Bool  // set before we start the closing handshake
	closeWith := func(code wsio.StatusCode, reason string) {
		weClosed.Store(true)
		c.Close(code, reason)
	}
	arrived := make(chan struct{}, 1)
	readDone := make(chan error, 1)
	go func() {
		readDone <- read(ctx, c, cfg, &weClosed, func() {
			received.Add(1)
			select {
			case arrived <- struct{}{}:
			default:
			}
		})
	}()

	if cfg.sendFile != "" {
		seen := received.Load()
		if err := sendFile(ctx, c, cfg.sendFile); err != nil {
			closeWith(wsio.StatusInternalError, "sending the file failed")
			<-readDone
			return err
		}
		// Wait for the peer's reply: the first message that arrives after
		// we started sending.
		for received.Load() == seen {
			select {
			case <-arrived:
			case err := <-readDone:
				return err
			}
		}
		closeWith(wsio.StatusNormalClosure, "")
		return finished(<-readDone)
	}

	for {
		select {
		case line, ok := <-lines:
			if !ok {
				// Ctrl-D: the closing handshake with 1000. Close waits for
				// the peer's close frame, which our reader sees.
				closeWith(wsio.StatusNormalClosure, "")
				return finished(<-readDone)
			}
			if err := c.SendText(ctx, line); err != nil {
				fmt.Fprintln(os.Stderr, "send:", err)
			}
		case err := <-readDone:
			return err
		}
	}
}

// finished is errFinished unless the reader failed.
func finished(readErr error) error {
	if readErr != nil {
		return readErr
	}
	return errFinished
}

// read prints the connection's messages until it closes, then shows the
// close code and reason. It returns nil for any close, an error only if
// writing a binary message to -o failed.
func read(ctx context.Context, c *wsio.Conn, cfg *config, weClosed *atomic.Bool, arrived func()) error {
	for {
		// Next handles pings, pongs and the close frame on the way.
		m, err := c.Next(ctx)
		if err != nil {
			var ce *wsio.CloseError
			if errors.As(err, &ce) {
				// ce.Remote says whose close frame ended the connection;
				// after our Close that may be the peer's answer, so ask
				// weClosed who started.
				who := "we closed"
				if ce.Remote && !weClosed.Load() {
					who = "peer closed"
				}
				reason := ""
				if ce.Reason != "" {
					reason = fmt.Sprintf(" %q", ce.Reason)
				}
				fmt.Fprintf(os.Stderr, "%s: %v%s\n", who, ce.Code, reason)
				if ce.Err != nil {
					fmt.Fprintln(os.Stderr, "cause:", ce.Err)
				}
				return nil
			}
			return err
		}
		switch m.Kind {
		case wsio.Text:
			fmt.Println(m.Text)
		case wsio.Binary:
			// m is a stream: copy it to the file (or count it), never
			// holding the message in memory.
			dst := io.Discard
			if cfg.outFile != nil {
				dst = cfg.outFile
			}
			n, err := io.Copy(dst, m)
			if err != nil {
				if errors.Is(err, wsio.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF) {
					continue // the next Next reports the close
				}
				weClosed.Store(true)
				c.Close(wsio.StatusInternalError, "cannot store the message")
				return err
			}
			if cfg.outFile != nil {
				fmt.Fprintf(os.Stderr, "<binary %d bytes written to %s>\n", n, cfg.out)
			} else {
				fmt.Printf("<binary %d bytes>\n", n)
			}
		}
		arrived()
	}
}

// sendFile sends the file at path as one binary message, showing progress
// on standard error.
func sendFile(ctx context.Context, c *wsio.Conn, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	p := &progress{total: st.Size(), start: time.Now()}

	// BeginBinary opens the message; each write becomes frames of the
	// fragment size (512 KiB by default), and Close sends the last one.
	w, err := c.BeginBinary(ctx)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, io.TeeReader(f, p))
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	p.show(true)
	return err
}

// progress is an io.Writer that counts the bytes going by and redraws a
// progress line on standard error at most ten times a second.
type progress struct {
	total, done int64
	start, last time.Time
}

func (p *progress) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	p.show(false)
	return len(b), nil
}

func (p *progress) show(final bool) {
	now := time.Now()
	if !final && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	pct := 100.0
	if p.total > 0 {
		pct = 100 * float64(p.done) / float64(p.total)
	}
	rate := float64(p.done) / 1e6 / max(now.Sub(p.start).Seconds(), 1e-9)
	fmt.Fprintf(os.Stderr, "\rsent %d of %d bytes (%.0f%%) %.1f MB/s ", p.done, p.total, pct, rate)
	if final {
		fmt.Fprintln(os.Stderr)
	}
}
