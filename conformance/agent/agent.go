// Package agent is the wsio side of the conformance runs: the echo logic
// the server (examples/echo) and the client (cmd/echoclient) run, and the
// Autobahn-protocol driver that walks a fuzzing server's cases with the
// wsio client.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"

	"github.com/wsio/wsio"
)

// Echo answers every message on c with itself (text as text, binary
// streamed into a BeginBinary writer) until the connection ends, and
// returns how it ended.
func Echo(ctx context.Context, c *wsio.Conn) error {
	for {
		m, err := c.Next(ctx)
		if err != nil {
			return err
		}
		switch m.Kind {
		case wsio.Text:
			err = c.SendText(ctx, m.Text)
		case wsio.Binary:
			var w *wsio.BinaryWriter
			if w, err = c.BeginBinary(ctx); err == nil {
				if _, err = io.Copy(w, m); err == nil {
					err = w.Close()
				} else {
					_ = w.Close()
				}
			}
		}
		if err != nil {
			return err
		}
	}
}

// ClientOptions are the wsio client settings used for conformance runs:
// a buffer cap large enough for the 16 MiB messages of family 9.
func ClientOptions() *wsio.DialOptions {
	return &wsio.DialOptions{Options: wsio.Options{BufferCap: 64 << 20}}
}

// RunFuzzingServer drives a fuzzing server at base (for example
// ws://127.0.0.1:9001) the way Autobahn clients do: it asks for the case
// count, runs every case with the echoing wsio client, then asks the server
// to write its reports. progress, if set, is called after each case.
func RunFuzzingServer(ctx context.Context, base, agentName string, progress func(n, total int, err error)) error {
	return RunFuzzingServerWith(ctx, base, agentName, nil, progress)
}

// RunFuzzingServerWith is RunFuzzingServer with the client's options:
// every connection, the cases' and the control ones (case count, reports),
// is dialed with opts; nil means ClientOptions. With opts.HTTP2 they all
// go over HTTP/2 (RFC 8441) when the fuzzing server offers it.
func RunFuzzingServerWith(ctx context.Context, base, agentName string, opts *wsio.DialOptions, progress func(n, total int, err error)) error {
	if opts == nil {
		opts = ClientOptions()
	}
	count, err := caseCount(ctx, base, opts)
	if err != nil {
		return err
	}
	q := url.QueryEscape(agentName)
	for i := 1; i <= count; i++ {
		c, _, err := wsio.Dial(ctx, base+"/runCase?case="+strconv.Itoa(i)+"&agent="+q, opts)
		if err == nil {
			err = Echo(ctx, c)
		}
		if progress != nil {
			progress(i, count, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	c, _, err := wsio.Dial(ctx, base+"/updateReports?agent="+q, opts)
	if err != nil {
		return fmt.Errorf("updateReports: %w", err)
	}
	if _, err := c.Next(ctx); !errors.Is(err, wsio.ErrClosed) {
		return fmt.Errorf("updateReports: %w", err)
	}
	return nil
}

func caseCount(ctx context.Context, base string, opts *wsio.DialOptions) (int, error) {
	c, _, err := wsio.Dial(ctx, base+"/getCaseCount", opts)
	if err != nil {
		return 0, fmt.Errorf("getCaseCount: %w", err)
	}
	defer c.Close(wsio.StatusNormalClosure, "")
	m, err := c.Next(ctx)
	if err != nil {
		return 0, fmt.Errorf("getCaseCount: %w", err)
	}
	n, err := strconv.Atoi(m.Text)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("getCaseCount: bad count %q", m.Text)
	}
	return n, nil
}
