//go:build !linux

package sock

import "errors"

// CanSendFile reports whether SendFile and WriteMore can be used: only on
// Linux, so never here.
func (s *Socket) CanSendFile() bool { return false }

// SendFile needs sendfile(2) as Linux has it; here it reports
// errors.ErrUnsupported.
func (s *Socket) SendFile(File, int64) (int64, error) { return 0, errors.ErrUnsupported }

// WriteMore needs MSG_MORE; here it reports errors.ErrUnsupported.
func (s *Socket) WriteMore([]byte, bool) (int, error) { return 0, errors.ErrUnsupported }
