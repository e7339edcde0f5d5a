//go:build !linux && !js

package wsio

import (
	"errors"
	"net"

	"github.com/wsio/wsio/binstream"
)

func sendFileTo(*net.TCPConn, binstream.File, int64) (int64, error) {
	return 0, errors.ErrUnsupported
}

func writeHeaderMore(tc *net.TCPConn, hdr []byte) (int, error) {
	return tc.Write(hdr)
}
