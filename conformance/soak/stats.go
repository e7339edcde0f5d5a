package main

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsio/wsio/conformance/internal/proc"
)

// peakSampler records the largest goroutine count and HeapInuse seen in
// samples taken every interval (without a GC: HeapInuse then includes
// garbage not yet collected, so it is an upper bound of the live heap).
type peakSampler struct {
	goroutines atomic.Int64
	heap       atomic.Uint64
	// peakDump, when set, receives the goroutine stacks each time the
	// goroutine count reaches a new peak 100 or more above the last dump.
	peakDump string
	dumped   atomic.Int64
}

// start samples every interval for the rest of the process's life.
func (p *peakSampler) start(interval time.Duration) {
	p.sample()
	go func() {
		for range time.Tick(interval) {
			p.sample()
		}
	}()
}

// sample takes one reading.
func (p *peakSampler) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	g := int64(runtime.NumGoroutine())
	for old := p.goroutines.Load(); g > old && !p.goroutines.CompareAndSwap(old, g); old = p.goroutines.Load() {
	}
	if d := p.dumped.Load(); p.peakDump != "" && g >= d+100 && g == p.goroutines.Load() && p.dumped.CompareAndSwap(d, g) {
		writeGoroutines(p.peakDump)
	}
	for old := p.heap.Load(); ms.HeapInuse > old && !p.heap.CompareAndSwap(old, ms.HeapInuse); old = p.heap.Load() {
	}
}

// startCPUProfile writes a CPU profile of the process to dir/<role>-cpu.pprof
// until the returned function is called; with dir "" it does nothing.
func startCPUProfile(dir, role string) (stop func()) {
	if dir == "" {
		return func() {}
	}
	return proc.StartCPUProfile(filepath.Join(dir, role+"-cpu.pprof"))
}

// goroutineRetention measures, in this process, how many heap bytes each
// goroutine leaves behind after it has ended: the Go runtime keeps every
// goroutine descriptor (runtime.g) it ever allocated on a free list for
// reuse and never frees it, so a server that ran 18,000 goroutines keeps
// about 18,000 descriptors after they all exit. It must run before this
// process has had that many goroutines (it is meant for the parent, whose
// figure the children share: same binary, same runtime).
func goroutineRetention() float64 {
	const n = 10000
	h0 := proc.Settled().HeapInuse
	var wg sync.WaitGroup
	ch := make(chan struct{})
	for range n {
		wg.Go(func() { <-ch })
	}
	close(ch)
	wg.Wait()
	h1 := proc.Settled().HeapInuse
	if h1 < h0 {
		return 0
	}
	return float64(h1-h0) / n
}

// writeGoroutines writes the goroutines' stacks, grouped, to path.
func writeGoroutines(path string) {
	if f, err := os.Create(path); err == nil {
		_ = pprof.Lookup("goroutine").WriteTo(f, 1)
		f.Close()
	}
}
