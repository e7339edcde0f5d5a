//go:build !unix && !js

package wsio

import "io"

// rawSource is only used on Unix systems; elsewhere every read goes
// through the stream.
type rawSource struct{}

func newRawSource(io.Reader) *rawSource { return nil }

func (*rawSource) read() (*[]byte, int, error) { return nil, 0, nil }

func (*rawSource) peek() (*[]byte, int, error) { return nil, 0, nil }
