//go:build !linux

package sock

import "errors"

// A Pipe carries Relay's bytes on Linux; it is never made here.
type Pipe struct{}

// NewPipe reports errors.ErrUnsupported here.
func NewPipe() (*Pipe, error) { return nil, errors.ErrUnsupported }

// Close does nothing here.
func (p *Pipe) Close() {}

// CanRelay reports false here: Relay needs splice(2) as Linux has it.
func (s *Socket) CanRelay() bool { return false }

// Relay reports errors.ErrUnsupported here, having moved nothing.
func (s *Socket) Relay(*Socket, *Pipe, int64) (moved, taken int64, srcErr, dstErr error) {
	return 0, 0, nil, errors.ErrUnsupported
}
