package sock

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// BufferSize is the length of the buffers GetBuffer returns and Read
// fills.
const BufferSize = 16 << 10

var buffers = sync.Pool{New: func() any { b := make([]byte, BufferSize); return &b }}

// GetBuffer returns a read buffer of BufferSize bytes, taken from the ones
// Read and Peek take theirs from. The caller owns it until it gives it
// back with PutBuffer.
func GetBuffer() *[]byte {
	if b := takePlaced(0); b != nil {
		return b
	}
	return buffers.Get().(*[]byte)
}

// PutBuffer gives back a buffer from GetBuffer, Read or Peek. The caller
// must not use it afterwards.
func PutBuffer(b *[]byte) {
	if !leavePlaced(b, uintptr(unsafe.Pointer(b))>>10) {
		buffers.Put(b)
	}
}

// Read buffers are kept in a few places, each taken or filled with one
// atomic operation, in front of a sync.Pool. The read callback (attempt)
// runs at the bottom of the reading goroutine's stack, under the net
// package's RawConn, and uses the places only: the pool's slow paths (the
// first use after each GC, a steal from another P, a miss that allocates)
// need more stack than is left there, and a goroutine whose stack grows
// keeps the larger stack while it waits. When the places have no buffer,
// or no room for one, the callback returns and its caller (Read, Peek)
// uses the pool, a few frames higher. Buffers wait in the places across
// GCs while they are being used; after a GC cycle in which none was taken
// from them, they go to the pool, which frees those nobody takes.
const places = 16

var (
	place     [places]atomic.Pointer[[]byte]
	placeUsed atomic.Bool // a buffer was taken from the places since the last GC
)

// takePlaced returns a buffer from the places, looking first at the one
// that start picks, or nil when they are empty. It is a leaf with a small
// frame, marked nosplit since it runs at the bottom of a reader's stack.
//
//go:nosplit
func takePlaced(start uintptr) *[]byte {
	for i := range uintptr(places) {
		p := &place[(start+i)%places]
		if p.Load() != nil {
			if b := p.Swap(nil); b != nil {
				if !placeUsed.Load() {
					placeUsed.Store(true)
				}
				return b
			}
		}
	}
	return nil
}

// leavePlaced puts b in a free place, looking first at the one that start
// picks, and reports whether there was one. Like takePlaced, it is a
// nosplit leaf.
//
//go:nosplit
func leavePlaced(b *[]byte, start uintptr) bool {
	for i := range uintptr(places) {
		p := &place[(start+i)%places]
		if p.Load() == nil && p.CompareAndSwap(nil, b) {
			return true
		}
	}
	return false
}

// gcMark is an object made unreachable at once: its cleanup runs after
// the next GC and makes the next one.
type gcMark struct{ _ [16]byte }

// markGC arranges for the places to be emptied into the pool after a GC
// cycle in which no buffer was taken from them.
func markGC() {
	runtime.AddCleanup(new(gcMark), func(struct{}) {
		if !placeUsed.Swap(false) {
			for i := range place {
				if b := place[i].Swap(nil); b != nil {
					buffers.Put(b)
				}
			}
		}
		markGC()
	}, struct{}{})
}

func init() { markGC() }
