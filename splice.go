//go:build !js

package wsio

import (
	"context"
	"errors"
	"io"
	"os"
)

// spliceTo writes the rest of binary message seq to f, handing each
// frame's payload from the TCP socket to the file (sock.Socket.SpliceTo)
// so the kernel can splice it; ctx (nil or not) governs it as it does
// readBinary. It reports handled=false, having read nothing, when the
// message or connection does not allow it (server role: masked payloads;
// compression; TLS) or the message cannot be read on (the caller's
// fallback reports why).
func (c *Conn) spliceTo(ctx context.Context, seq uint64, f *os.File) (total int64, handled bool, err error) {
	if !c.sock.CanSplice() || !c.client {
		return 0, false, nil
	}
	if ctx == nil {
		c.rsem.lockAlways()
	} else if err := c.rsem.lock(ctx, nil); err != nil {
		return 0, true, err
	}
	defer c.unlockRead()
	if c.binaryState(seq) != nil || c.compressed {
		return 0, false, nil
	}
	if ctx != nil {
		stop := c.watch(ctx, reading)
		defer func() {
			stop()
			err = readCanceled(ctx, err)
		}()
	}
	for {
		switch {
		case c.fs.remaining > 0 && c.rd.buffered() > 0:
			k := int(min(int64(c.rd.buffered()), c.fs.remaining))
			n, werr := f.Write(c.rd.peek()[:k])
			c.rd.consume(n)
			c.fs.remaining -= int64(n)
			total += int64(n)
			if werr != nil {
				return total, true, werr
			}
		case c.fs.remaining > 0:
			n, rerr := c.sock.SpliceTo(f, c.fs.remaining)
			c.fs.remaining -= n
			total += n
			spliceFrames.Add(1)
			if n > 0 {
				c.rd.got()
			}
			if rerr == nil && n == 0 {
				rerr = io.EOF
			}
			if rerr != nil {
				var pe *os.PathError
				if errors.As(rerr, &pe) {
					return total, true, rerr // writing the file failed
				}
				return total, true, cutShort(c.readFailed(rerr))
			}
		case c.fs.hdr.Fin:
			c.binDone = true
			c.msgOp = 0
			return total, true, nil
		default:
			if err := c.nextFragment(); err != nil {
				return total, true, cutShort(err)
			}
		}
	}
}
