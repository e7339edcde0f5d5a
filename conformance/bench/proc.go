package main

import (
	"context"
	"time"

	"github.com/wsio/wsio/conformance/internal/proc"
)

// child is a running server or client child process of the bench binary.
type child struct{ *proc.Child }

// startChild runs exe (the bench binary) as a child named name, with args
// its subcommand and flags.
func startChild(exe, name string, args ...string) (*child, error) {
	c, err := proc.Start(exe, proc.Options{Name: name, ChildEnv: childEnv, KillOnTimeout: true}, args...)
	if err != nil {
		return nil, err
	}
	return &child{c}, nil
}

// expect waits for a line starting with tag and returns the rest; a child
// that does not send it within timeout is killed.
func (c *child) expect(tag string, timeout time.Duration) (string, error) {
	return c.Expect(context.Background(), tag, timeout, nil)
}

// expectJSON is expect followed by decoding the rest of the line into v.
func (c *child) expectJSON(tag string, timeout time.Duration, v any) error {
	return c.ExpectJSON(context.Background(), tag, timeout, nil, v)
}

// stats asks a server child for its settled process figures.
func (c *child) stats() (proc.Stats, error) {
	var st proc.Stats
	if err := c.Send("STATS"); err != nil {
		return st, err
	}
	err := c.expectJSON("STATS", time.Minute, &st)
	return st, err
}

// cpu asks a server child for the CPU time it has used, in ns.
func (c *child) cpu() (int64, error) {
	var cr cpuReport
	if err := c.Send("CPU"); err != nil {
		return 0, err
	}
	err := c.expectJSON("CPU", time.Minute, &cr)
	return cr.CPUNs, err
}
