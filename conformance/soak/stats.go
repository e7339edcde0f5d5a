package main

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"
)

// procStats is what a child process reports about itself.
type procStats struct {
	Goroutines int    `json:"goroutines"`
	HeapInuse  uint64 `json:"heap_inuse"` // runtime.MemStats.HeapInuse
	RSSKiB     int64  `json:"rss_kib"`    // VmRSS
	HWMKiB     int64  `json:"hwm_kib"`    // VmHWM: peak RSS over the process's life
	CPUNs      int64  `json:"cpu_ns"`     // user + system CPU time over the process's life
	GOMAXPROCS int    `json:"gomaxprocs"`
	NoFileSoft uint64 `json:"nofile_soft"`
	NoFileHard uint64 `json:"nofile_hard"`
}

// settledStats collects garbage first (twice, so sync.Pool's victim cache
// is emptied too: pooled buffers are shared caches, not memory a
// connection holds) and returns freed memory to the OS, so the heap,
// goroutine and RSS figures describe what is live.
func settledStats() procStats {
	debug.FreeOSMemory()
	debug.FreeOSMemory()
	return rawStats()
}

// rawStats reads the figures without collecting garbage first.
func rawStats() procStats {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, hwm := procStatus()
	soft, hard := noFileLimit()
	return procStats{
		Goroutines: runtime.NumGoroutine(),
		HeapInuse:  ms.HeapInuse,
		RSSKiB:     rss,
		HWMKiB:     hwm,
		CPUNs:      cpuTime(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		NoFileSoft: soft,
		NoFileHard: hard,
	}
}

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
	f, err := os.Create(filepath.Join(dir, role+"-cpu.pprof"))
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// writeHeapProfile writes the heap profile (as of the last GC) to path.
func writeHeapProfile(path string) {
	if f, err := os.Create(path); err == nil {
		_ = pprof.WriteHeapProfile(f)
		f.Close()
	}
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
	h0 := settledStats().HeapInuse
	var wg sync.WaitGroup
	ch := make(chan struct{})
	for range n {
		wg.Go(func() { <-ch })
	}
	close(ch)
	wg.Wait()
	h1 := settledStats().HeapInuse
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
