package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// The parent and its two children talk in lines: a child writes
// "TAG {json}" lines on its stdout (LISTEN, STATS, CONNECTED, PROGRESS,
// HELD, CLOSED, ERROR) and reads one-word commands on its stdin (STATS,
// GO, CLOSE). Its stdin closing tells it to exit. Anything a child writes
// on stderr is kept (the last few KiB) for error messages.

// childEnv is set in a child's environment, so that a test binary
// re-executed as a child runs the child's code instead of the tests.
const childEnv = "WSIO_SOAK_CHILD"

// child is a running child process.
type child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	tail  *tailBuffer
	done  chan struct{}
	err   error // Wait's result, after done
}

// startChild runs exe with args and extra environment entries.
func startChild(exe, name string, env []string, args ...string) (*child, error) {
	cmd := exec.Command(exe, args...)
	// Under the race detector a process sleeps 1 s at exit unless told not to.
	cmd.Env = append(os.Environ(), childEnv+"=1", "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	cmd.Env = append(cmd.Env, env...)
	dieWithParent(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	tail := &tailBuffer{max: 8192}
	cmd.Stderr = tail
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{name: name, cmd: cmd, stdin: stdin, lines: make(chan string, 64), tail: tail, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// send writes one command line to the child.
func (c *child) send(cmd string) error {
	if _, err := io.WriteString(c.stdin, cmd+"\n"); err != nil {
		return fmt.Errorf("%s: %w%s", c.name, err, c.stderr())
	}
	return nil
}

// expect waits for a line starting with tag and returns the rest. Lines
// with other tags are passed to other (when not nil) and skipped; an
// ERROR line, the child's exit, ctx's end or the timeout fail the wait.
func (c *child) expect(ctx context.Context, tag string, timeout time.Duration, other func(line string)) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				<-c.done
				return "", fmt.Errorf("%s exited (%v) before %s%s", c.name, c.err, tag, c.stderr())
			}
			if rest, found := strings.CutPrefix(line, "ERROR "); found {
				return "", fmt.Errorf("%s: %s%s", c.name, rest, c.stderr())
			}
			if line == tag {
				return "", nil
			}
			if rest, found := strings.CutPrefix(line, tag+" "); found {
				return rest, nil
			}
			if other != nil {
				other(line)
			}
		case <-t.C:
			return "", fmt.Errorf("%s: no %s within %v: %w%s", c.name, tag, timeout, errTimeout, c.stderr())
		case <-ctx.Done():
			return "", fmt.Errorf("%s: waiting for %s: %w", c.name, tag, ctx.Err())
		}
	}
}

// expectJSON is expect followed by decoding the rest of the line into v.
func (c *child) expectJSON(ctx context.Context, tag string, timeout time.Duration, other func(string), v any) error {
	s, err := c.expect(ctx, tag, timeout, other)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("%s: bad %s line: %w", c.name, tag, err)
	}
	return nil
}

// stop closes the child's stdin (its signal to exit) and waits for it,
// killing it after 30 s.
func (c *child) stop() {
	_ = c.stdin.Close()
	go func() {
		for range c.lines {
		}
	}()
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		c.kill()
	}
}

// kill ends the child at once.
func (c *child) kill() {
	_ = c.cmd.Process.Kill()
	go func() {
		for range c.lines {
		}
	}()
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
	}
}

// stderr returns the tail of the child's stderr, indented, for errors.
func (c *child) stderr() string {
	s := strings.TrimSpace(c.tail.String())
	if s == "" {
		return ""
	}
	return "\n  stderr: " + strings.ReplaceAll(s, "\n", "\n  ")
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   bytes.Buffer
}

// Write appends p, dropping old bytes beyond twice the limit.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b.Write(p)
	if t.b.Len() > 2*t.max {
		keep := append([]byte(nil), t.b.Bytes()[t.b.Len()-t.max:]...)
		t.b.Reset()
		t.b.Write(keep)
	}
	return len(p), nil
}

// String returns the last max bytes written.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.b.Bytes()
	if len(b) > t.max {
		b = b[len(b)-t.max:]
	}
	return string(b)
}

// emitMu keeps the lines of concurrent emitters whole.
var emitMu sync.Mutex

// emit writes one "TAG {json}" line to stdout (the parent).
func emit(tag string, v any) {
	b, _ := json.Marshal(v)
	emitMu.Lock()
	defer emitMu.Unlock()
	fmt.Fprintf(os.Stdout, "%s %s\n", tag, b)
}

// emitError reports a child's fatal error to the parent.
func emitError(err error) {
	emitMu.Lock()
	defer emitMu.Unlock()
	fmt.Fprintf(os.Stdout, "ERROR %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
}
