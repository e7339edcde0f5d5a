package sock

import "sync"

// BufferSize is the length of the buffers GetBuffer returns and Read
// fills.
const BufferSize = 16 << 10

var buffers = sync.Pool{New: func() any { b := make([]byte, BufferSize); return &b }}

// GetBuffer returns a read buffer of BufferSize bytes, taken from the pool
// that Read and Peek take theirs from. The caller owns it until it gives
// it back with PutBuffer.
func GetBuffer() *[]byte { return buffers.Get().(*[]byte) }

// PutBuffer gives back a buffer from GetBuffer, Read or Peek. The caller
// must not use it afterwards.
func PutBuffer(b *[]byte) { buffers.Put(b) }
