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

// child is a running child process of the bench binary.
type child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	tail  *tailBuffer
	done  chan struct{}
	err   error // Wait's result, after done
}

func startChild(exe, name string, args ...string) (*child, error) {
	cmd := exec.Command(exe, args...)
	// Under the race detector a process sleeps 1 s at exit unless told not to.
	cmd.Env = append(os.Environ(), childEnv+"=1", "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	tail := &tailBuffer{max: 4096}
	cmd.Stderr = tail
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{name: name, cmd: cmd, stdin: stdin, lines: make(chan string, 16), tail: tail, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// expect waits for a line starting with tag and returns the rest.
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
			c.kill()
			return "", fmt.Errorf("%s: no %s within %v%s", c.name, tag, timeout, c.stderr())
		}
	}
}

func (c *child) expectJSON(tag string, timeout time.Duration, v any) error {
	s, err := c.expect(tag, timeout)
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(s), v)
}

func (c *child) stats() (procStats, error) {
	var st procStats
	if _, err := io.WriteString(c.stdin, "STATS\n"); err != nil {
		return st, fmt.Errorf("%s: %w", c.name, err)
	}
	err := c.expectJSON("STATS", time.Minute, &st)
	return st, err
}

func (c *child) cpu() (int64, error) {
	var cr cpuReport
	if _, err := io.WriteString(c.stdin, "CPU\n"); err != nil {
		return 0, fmt.Errorf("%s: %w", c.name, err)
	}
	err := c.expectJSON("CPU", time.Minute, &cr)
	return cr.CPUNs, err
}

// stop closes the child's stdin (its signal to exit) and waits for it.
func (c *child) stop() {
	_ = c.stdin.Close()
	go func() {
		for range c.lines {
		}
	}()
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		c.kill()
	}
}

func (c *child) kill() {
	_ = c.cmd.Process.Kill()
	go func() {
		for range c.lines {
		}
	}()
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
	}
}

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
