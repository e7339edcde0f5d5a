//go:build !unix

package sock

import (
	"errors"
	"io"
	"os"
)

// A Socket is a socket's descriptor as the connection uses it. Only Unix
// systems have one here: elsewhere Of returns nil, and every method
// reports that it did nothing.
type Socket struct{}

// Of returns nil here: descriptor operations are used on Unix systems
// only, and every read and write goes through the stream.
func Of(io.Reader) *Socket { return nil }

// Read reports errors.ErrUnsupported here.
func (s *Socket) Read() (*[]byte, int, error) { return nil, 0, errors.ErrUnsupported }

// Bind does nothing.
func (s *Socket) Bind() error { return nil }

// Writev reports whether Write is supported: not here.
const Writev = false

// Write reports errors.ErrUnsupported here.
func (s *Socket) Write(hdr, p []byte) (int, error) { return 0, errors.ErrUnsupported }

// Peek reports errors.ErrUnsupported here.
func (s *Socket) Peek(int) (*[]byte, int, error) { return nil, 0, errors.ErrUnsupported }

// TryRead never reads here: ok is false, and the caller reads as usual.
func (s *Socket) TryRead([]byte) (n int, ok bool, err error) { return 0, false, nil }

// ReadInto reports errors.ErrUnsupported here.
func (s *Socket) ReadInto([]byte, bool) (int, error) { return 0, errors.ErrUnsupported }

// TryWrite never writes here: the caller writes as usual.
func (s *Socket) TryWrite([]byte) (int, error) { return 0, nil }

// CanSplice reports false here.
func (s *Socket) CanSplice() bool { return false }

// SpliceTo reports errors.ErrUnsupported here.
func (s *Socket) SpliceTo(*os.File, int64) (int64, error) { return 0, errors.ErrUnsupported }
