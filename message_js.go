//go:build js

package wsio

import (
	"context"
	"io"
	"syscall/js"
)

// WriteTo writes the rest of a binary message to w, returning a nil error
// at the message's end. The message's context and its staleness apply as
// for Read.
func (m Message) WriteTo(w io.Writer) (int64, error) {
	if m.c == nil || m.Kind != Binary {
		return 0, nil
	}
	return readFromInto(w, m, make([]byte, 256<<10))
}

// readBinary copies the next bytes of the current binary message, when
// seq still names it, into p; a done ctx fails it first, consuming nothing.
func (c *Conn) readBinary(ctx context.Context, seq uint64, p []byte) (int, error) {
	if c == nil {
		return 0, io.EOF // not a binary message
	}
	if ctx != nil && ctx.Err() != nil {
		return 0, ctx.Err()
	}
	c.curMu.Lock()
	defer c.curMu.Unlock()
	if seq != c.msgSeq {
		return 0, ErrStaleMessage
	}
	if c.curOff >= c.curLen {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	n := min(len(p), c.curLen-c.curOff)
	src := c.cur
	if c.curOff > 0 || n < c.curLen {
		src = c.cur.Call("subarray", c.curOff, c.curOff+n)
	}
	js.CopyBytesToGo(p[:n], src)
	c.curOff += n
	if c.curOff == c.curLen {
		c.cur = js.Undefined() // the payload can be collected
	}
	return n, nil
}

// Next waits for the next data message and returns it: text whole in
// Message.Text, binary as a Message to read. A binary message returned
// before becomes stale (its reads fail with ErrStaleMessage).
//
// Messages that arrived before the connection ended are returned first;
// then Next returns the *CloseError saying how it ended: the peer's code
// and reason when it closed, 1006 when the connection broke, 1009
// (matching ErrMessageTooBig) when a message over Options.BufferCap (text)
// or Options.MaxBinaryMessage (binary) arrived. After this side's Close
// or CloseNow, the messages not yet returned are discarded.
//
// A ctx already done makes Next return ctx.Err() at once, touching
// nothing. Canceling ctx, or passing the read deadline, makes Next return
// an error matching ctx.Err() (or one wrapping os.ErrDeadlineExceeded)
// and leaves the connection usable: no message is lost. ctx also governs
// the reads of the binary message Next returns (see Message).
//
// Only one goroutine may read at a time; a concurrent Next waits.
func (c *Conn) Next(ctx context.Context) (Message, error) {
	mctx := endable(ctx)
	if mctx != nil && ctx.Err() != nil {
		return Message{}, ctx.Err()
	}
	if err := c.wait(ctx, &c.rdl, c.rlock, nil, 0, "read"); err != nil {
		return Message{}, err
	}
	defer func() { c.rlock <- struct{}{} }()
	c.curMu.Lock()
	c.msgSeq++ // from here on, the Message the last call returned is stale
	seq := c.msgSeq
	c.cur, c.curOff, c.curLen = js.Undefined(), 0, 0
	c.curMu.Unlock()
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			m := c.queue[0]
			c.queue[0] = jsMessage{}
			c.queue = c.queue[1:]
			c.queued -= m.size()
			c.mu.Unlock()
			if m.kind == Text {
				return Message{Kind: Text, Text: m.text}, nil
			}
			c.curMu.Lock()
			c.cur, c.curLen = m.data, m.n
			c.curMu.Unlock()
			return Message{Kind: Binary, c: c, ctx: mctx, seq: seq}, nil
		}
		closed := c.State() == Closed
		c.mu.Unlock()
		if closed {
			return Message{}, c.closeError()
		}
		if err := c.wait(ctx, &c.rdl, c.notify, nil, 0, "read"); err != nil {
			return Message{}, err
		}
	}
}
