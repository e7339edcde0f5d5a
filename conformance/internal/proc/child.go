// Package proc holds what the conformance programs bench and soak share
// about processes: starting a child process (the program re-executed)
// and talking to it in lines, what a process reports about itself
// (memory, CPU time, open-file limit), profiles, and the facts about the
// machine and the command that head their reports.
//
// The parent and a child talk in lines: the child writes "TAG rest" lines
// on its stdout (Emit writes "TAG {json}", EmitError an "ERROR text" line)
// and reads commands on its stdin, one a line (Child.Send); its stdin
// closing tells it to exit. Anything a child writes on stderr is kept
// (the last few KiB) for error messages.
package proc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// ErrTimeout is wrapped by the error of a Child.Expect that ran out of
// time, as opposed to one whose child failed or exited.
var ErrTimeout = errors.New("timed out")

// IsChild reports whether this process was started as a child by Start
// with Options.ChildEnv set to env: a program (or a test binary standing
// in for it) checks it first and runs the child's code when it is true.
func IsChild(env string) bool { return os.Getenv(env) == "1" }

// Options describe the child process Start runs.
type Options struct {
	// Name names the child in error messages ("wsio server").
	Name string
	// ChildEnv is the environment variable set to "1" in the child's
	// environment (see IsChild).
	ChildEnv string
	// Env holds further "KEY=value" entries for the child's environment.
	Env []string
	// DieWithParent has the kernel kill the child when the parent dies
	// (on Linux; elsewhere it does nothing).
	DieWithParent bool
	// KillOnTimeout has Expect kill the child when it runs out of time.
	KillOnTimeout bool
	// StderrTail is how many of the last bytes of the child's stderr are
	// kept for error messages; 0 means 4 KiB.
	StderrTail int
	// StopWait is how long Stop waits for the child to exit before it
	// kills it, and Kill for the killed child to be reaped; 0 means 20 s.
	StopWait time.Duration
}

// Child is a running child process started by Start.
type Child struct {
	opts  Options
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	tail  *tailBuffer
	done  chan struct{}
	err   error // Wait's result, after done
}

// Start runs exe with args as a child process described by opts, with
// its stdout read line by line for Expect.
func Start(exe string, opts Options, args ...string) (*Child, error) {
	if opts.StderrTail <= 0 {
		opts.StderrTail = 4096
	}
	if opts.StopWait <= 0 {
		opts.StopWait = 20 * time.Second
	}
	cmd := exec.Command(exe, args...)
	// Under the race detector a process sleeps 1 s at exit unless told not to.
	cmd.Env = append(os.Environ(), opts.ChildEnv+"=1", "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	cmd.Env = append(cmd.Env, opts.Env...)
	if opts.DieWithParent {
		dieWithParent(cmd)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	tail := &tailBuffer{max: opts.StderrTail}
	cmd.Stderr = tail
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &Child{opts: opts, cmd: cmd, stdin: stdin, lines: make(chan string, 64), tail: tail, done: make(chan struct{})}
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

// Send writes one command line to the child's stdin.
func (c *Child) Send(cmd string) error {
	if _, err := io.WriteString(c.stdin, cmd+"\n"); err != nil {
		return fmt.Errorf("%s: %w%s", c.opts.Name, err, c.stderr())
	}
	return nil
}

// Expect waits for a line that is tag or starts with tag and a space, and
// returns the rest of it. Lines with other tags are passed to other (when
// not nil) and skipped; an ERROR line, the child's exit, ctx's end or the
// timeout (its error wraps ErrTimeout) fail the wait.
func (c *Child) Expect(ctx context.Context, tag string, timeout time.Duration, other func(line string)) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				<-c.done
				return "", fmt.Errorf("%s exited (%v) before %s%s", c.opts.Name, c.err, tag, c.stderr())
			}
			if rest, found := strings.CutPrefix(line, "ERROR "); found {
				return "", fmt.Errorf("%s: %s%s", c.opts.Name, rest, c.stderr())
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
			if c.opts.KillOnTimeout {
				c.Kill()
			}
			return "", fmt.Errorf("%s: no %s within %v: %w%s", c.opts.Name, tag, timeout, ErrTimeout, c.stderr())
		case <-ctx.Done():
			return "", fmt.Errorf("%s: waiting for %s: %w", c.opts.Name, tag, ctx.Err())
		}
	}
}

// ExpectJSON is Expect followed by decoding the rest of the line into v.
func (c *Child) ExpectJSON(ctx context.Context, tag string, timeout time.Duration, other func(line string), v any) error {
	s, err := c.Expect(ctx, tag, timeout, other)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("%s: bad %s line: %w", c.opts.Name, tag, err)
	}
	return nil
}

// Stop closes the child's stdin (its signal to exit) and waits for it,
// killing it after Options.StopWait.
func (c *Child) Stop() {
	_ = c.stdin.Close()
	go c.discardLines()
	select {
	case <-c.done:
	case <-time.After(c.opts.StopWait):
		c.Kill()
	}
}

// Kill ends the child at once and waits (up to Options.StopWait) until it
// has been reaped.
func (c *Child) Kill() {
	_ = c.cmd.Process.Kill()
	go c.discardLines()
	select {
	case <-c.done:
	case <-time.After(c.opts.StopWait):
	}
}

// discardLines reads the child's remaining lines, so that its stdout
// reader can finish.
func (c *Child) discardLines() {
	for range c.lines {
	}
}

// stderr returns the tail of the child's stderr, indented, for errors.
func (c *Child) stderr() string {
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

// Emit writes one "TAG {json}" line, v encoded as JSON, to stdout (the
// parent); concurrent calls write whole lines.
func Emit(tag string, v any) {
	b, _ := json.Marshal(v)
	emitMu.Lock()
	defer emitMu.Unlock()
	fmt.Fprintf(os.Stdout, "%s %s\n", tag, b)
}

// EmitError reports a child's fatal error to the parent: one "ERROR text"
// line on stdout, the error's line breaks turned into spaces.
func EmitError(err error) {
	emitMu.Lock()
	defer emitMu.Unlock()
	fmt.Fprintf(os.Stdout, "ERROR %s\n", strings.NewReplacer("\n", " ", "\r", " ").Replace(err.Error()))
}
