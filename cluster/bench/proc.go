package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// The bench re-executes itself with childEnv=1 and a subcommand (node or
// client), so that every node and every group of clients is its own
// process with its own open-file limit. A child talks to the parent in
// "TAG rest" lines on its stdout (LISTEN, READY, WARM, SENT, GOT, CPU,
// ERROR) and takes one command a line on its stdin; its stdin closing
// tells it to exit.
const childEnv = "WSIO_CLUSTER_BENCH_CHILD"

// child is a running child process of the bench.
type child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	tail  *tailBuffer
	done  chan struct{}
	err   error // Wait's result, after done
}

// startChild runs exe (the bench itself) as a child named name, with args
// its subcommand and flags.
func startChild(exe, name string, args ...string) (*child, error) {
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	dieWithParent(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &child{name: name, cmd: cmd, stdin: stdin, lines: make(chan string, 64), tail: &tailBuffer{max: 4096}, done: make(chan struct{})}
	cmd.Stderr = c.tail
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// send writes one command line to the child's stdin.
func (c *child) send(cmd string) error {
	if _, err := io.WriteString(c.stdin, cmd+"\n"); err != nil {
		return fmt.Errorf("%s: %w%s", c.name, err, c.stderr())
	}
	return nil
}

// errNoLine is returned by expect when no line came within the timeout;
// the child keeps running.
var errNoLine = fmt.Errorf("no line in time")

// expect waits up to timeout for a line that is tag or starts with tag and
// a space, and returns the rest of it. Lines with other tags are skipped;
// an ERROR line or the child's exit fail the wait.
func (c *child) expect(tag string, timeout time.Duration) (string, error) {
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
		case <-t.C:
			return "", fmt.Errorf("%s: no %s within %v: %w%s", c.name, tag, timeout, errNoLine, c.stderr())
		}
	}
}

// expectJSON is expect followed by decoding the rest of the line into v.
func (c *child) expectJSON(tag string, timeout time.Duration, v any) error {
	s, err := c.expect(tag, timeout)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("%s: bad %s line: %w", c.name, tag, err)
	}
	return nil
}

// cpu asks the child for the CPU time it has used so far, in ns.
func (c *child) cpu() (int64, error) {
	if err := c.send("CPU"); err != nil {
		return 0, err
	}
	var ns int64
	err := c.expectJSON("CPU", time.Minute, &ns)
	return ns, err
}

// stop closes the child's stdin (its signal to exit) and waits for it,
// killing it after 20 s.
func (c *child) stop() {
	_ = c.stdin.Close()
	go c.discard()
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// discard reads the child's remaining lines, so that its stdout reader
// can finish.
func (c *child) discard() {
	for range c.lines {
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

// emit writes one "TAG {json}" line, v encoded as JSON, to stdout (the
// parent); concurrent calls write whole lines.
func emit(tag string, v any) {
	b, _ := json.Marshal(v)
	emitMu.Lock()
	defer emitMu.Unlock()
	fmt.Fprintf(os.Stdout, "%s %s\n", tag, b)
}

// emitError reports a child's fatal error to the parent in one ERROR line.
func emitError(err error) {
	emitMu.Lock()
	defer emitMu.Unlock()
	fmt.Fprintf(os.Stdout, "ERROR %s\n", strings.NewReplacer("\n", " ", "\r", " ").Replace(err.Error()))
}
