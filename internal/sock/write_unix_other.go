//go:build unix && !linux

package sock

import "errors"

// Writev reports whether Write is supported: not here, where a
// connection writes through net.Conn.
const Writev = false

func (s *Socket) bindWrite() {}

// Write reports errors.ErrUnsupported here.
func (s *Socket) Write(hdr, p []byte) (int, error) { return 0, errors.ErrUnsupported }
