package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/internal/wstest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// wscatBinary builds the command once for all tests.
func wscatBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wscat-test-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "wscat")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// echoServer echoes text, answers "close please" by closing with 4001,
// and answers each binary message with its size and SHA-256, keeping the
// bytes for the test to compare.
type echoServer struct {
	*httptest.Server
	mu     sync.Mutex
	binary [][]byte
}

func newEchoServer(t *testing.T) *echoServer {
	s := &echoServer{}
	s.Server = httptest.NewServer(wsio.NewServer(wsio.ServerOptions{}, func(c *wsio.Conn) {
		ctx := context.Background()
		for {
			m, err := c.Next(ctx)
			if err != nil {
				return
			}
			switch {
			case m.Kind == wsio.Text && m.Text == "close please":
				c.Close(4001, "asked to")
				return
			case m.Kind == wsio.Text:
				c.SendText(ctx, m.Text)
			case m.Kind == wsio.Binary:
				var buf bytes.Buffer
				h := sha256.New()
				n, err := io.Copy(io.MultiWriter(&buf, h), m)
				if err != nil {
					return
				}
				s.mu.Lock()
				s.binary = append(s.binary, buf.Bytes())
				s.mu.Unlock()
				c.SendText(ctx, fmt.Sprintf("got %d bytes, sha256 %x", n, h.Sum(nil)))
			}
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *echoServer) wsURL() string { return "ws" + strings.TrimPrefix(s.URL, "http") + "/" }

// proc is a running wscat: its input, its output lines, its error output.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr wstest.Buffer
	exited chan error
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, lines: make(chan string, 100), exited: make(chan error, 1)}
	p.cmd = exec.Command(wscatBinary(t), args...)
	p.cmd.Stderr = &p.stderr
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.exited <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	return p
}

func (p *proc) send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatal(err)
	}
}

func (p *proc) expectLine(want string) {
	p.t.Helper()
	select {
	case got, ok := <-p.lines:
		if !ok {
			p.t.Fatalf("wscat exited, want output line %q; stderr:\n%s", want, p.stderr.String())
		}
		if got != want {
			p.t.Fatalf("wscat printed %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		p.t.Fatalf("no output line %q after 10 s; stderr:\n%s", want, p.stderr.String())
	}
}

// expectStderr waits for standard error to match re and returns the match.
func (p *proc) expectStderr(re string) []string {
	p.t.Helper()
	r := regexp.MustCompile(re)
	var m []string
	if !wstest.Poll(10*time.Second, func() bool { m = r.FindStringSubmatch(p.stderr.String()); return m != nil }) {
		p.t.Fatalf("stderr does not match %q after 10 s:\n%s", re, p.stderr.String())
	}
	return m
}

// wait waits for wscat to exit with status 0 and returns its remaining output lines.
func (p *proc) wait() []string {
	p.t.Helper()
	var rest []string
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if ok {
				rest = append(rest, l)
				continue
			}
			if err := <-p.exited; err != nil {
				p.t.Fatalf("wscat: %v; stderr:\n%s", err, p.stderr.String())
			}
			p.exited <- nil // for the cleanup
			return rest
		case <-timeout:
			p.t.Fatalf("wscat did not exit; stderr:\n%s", p.stderr.String())
		}
	}
}

func TestTextRoundTrip(t *testing.T) {
	s := newEchoServer(t)
	p := start(t, "-c", s.wsURL())
	p.expectStderr(`connected to ws://\S+ \(101 Switching Protocols\)`)
	p.send("hello")
	p.expectLine("hello")
	p.send("héllo, wörld ✓")
	p.expectLine("héllo, wörld ✓")
	p.stdin.Close() // Ctrl-D
	if rest := p.wait(); len(rest) > 0 {
		t.Errorf("unexpected output %q", rest)
	}
	p.expectStderr(`we closed: 1000 \(normal closure\)`)
}

func TestPeerClose(t *testing.T) {
	s := newEchoServer(t)
	p := start(t, "-c", s.wsURL())
	p.send("close please")
	p.wait()
	p.expectStderr(`peer closed: 4001 "asked to"`)
}

func TestSendFile(t *testing.T) {
	s := newEchoServer(t)
	data := wstest.RandomBytes(3<<20, 1)
	path := filepath.Join(t.TempDir(), "data.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}

	p := start(t, "-c", s.wsURL(), "-send-file", path)
	out := p.wait()
	want := fmt.Sprintf("got %d bytes, sha256 %x", len(data), sha256.Sum256(data))
	if len(out) != 1 || out[0] != want {
		t.Errorf("wscat printed %q, want the reply %q", out, want)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.binary) != 1 || !bytes.Equal(s.binary[0], data) {
		t.Errorf("server got %d binary messages, want one equal to the %d-byte file", len(s.binary), len(data))
	}
	p.expectStderr(fmt.Sprintf(`sent %d of %d bytes \(100%%\) [0-9.]+ MB/s`, len(data), len(data)))
	p.expectStderr(`we closed: 1000 \(normal closure\)`)
}

func TestListen(t *testing.T) {
	out := filepath.Join(t.TempDir(), "binary.out")
	p := start(t, "-l", "127.0.0.1:0", "-o", out)
	addr := p.expectStderr(`listening on (ws://\S+)`)[1]

	ctx := context.Background()
	c, _, err := wsio.Dial(ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(wsio.StatusNormalClosure, "")
	got := make(chan string, 10)
	go func() {
		for {
			m, err := c.Next(ctx)
			if err != nil {
				close(got)
				return
			}
			got <- m.Text
		}
	}()

	// A second client is turned away while the first is connected.
	if _, resp, err := wsio.Dial(ctx, addr, nil); err == nil || resp == nil || resp.StatusCode != 503 {
		t.Errorf("second connection: %v, %v; want 503", resp, err)
	}

	if err := c.SendText(ctx, "from the client"); err != nil {
		t.Fatal(err)
	}
	p.expectLine("from the client")
	p.send("from wscat")
	if m := <-got; m != "from wscat" {
		t.Errorf("client got %q", m)
	}
	blob := bytes.Repeat([]byte("0123456789"), 100_000)
	if err := c.SendBinary(ctx, blob); err != nil {
		t.Fatal(err)
	}
	p.expectStderr(`<binary 1000000 bytes written to `)
	if err := c.Ping(ctx, []byte("are you there")); err != nil {
		t.Fatal(err)
	}
	p.expectStderr(`< ping "are you there" \(answered\)`)

	c.Close(wsio.StatusGoingAway, "bye")
	p.expectStderr(`peer closed: 1001 \(going away\) "bye"`)
	p.stdin.Close() // no connection open: wscat exits
	p.wait()
	if b, err := os.ReadFile(out); err != nil || !bytes.Equal(b, blob) {
		t.Errorf("-o file holds %d bytes (%v), want the %d sent", len(b), err, len(blob))
	}
}
