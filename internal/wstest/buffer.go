package wstest

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer that goroutines may write and read at the same
// time: the output of a child process (exec copies it in a goroutine of
// its own) or of a logger that server goroutines use. The zero value is
// an empty buffer ready to use; a Buffer must not be copied after first
// use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer; it never fails.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
