package proc

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
)

// Stats is what a process reports about itself.
type Stats struct {
	// Goroutines is the number of goroutines running.
	Goroutines int `json:"goroutines"`
	// HeapInuse is runtime.MemStats.HeapInuse, in bytes.
	HeapInuse uint64 `json:"heap_inuse"`
	// StackInuse is runtime.MemStats.StackInuse (goroutine stacks), in bytes.
	StackInuse uint64 `json:"stack_inuse"`
	// RSSKiB is the resident set size (VmRSS), in KiB.
	RSSKiB int64 `json:"rss_kib"`
	// HWMKiB is the peak resident set size over the process's life
	// (VmHWM), in KiB.
	HWMKiB int64 `json:"hwm_kib"`
	// CPUNs is the user + system CPU time over the process's life, in ns.
	CPUNs int64 `json:"cpu_ns"`
	// GOMAXPROCS is the process's runtime.GOMAXPROCS setting.
	GOMAXPROCS int `json:"gomaxprocs"`
	// NoFileSoft is the soft RLIMIT_NOFILE.
	NoFileSoft uint64 `json:"nofile_soft"`
	// NoFileHard is the hard RLIMIT_NOFILE.
	NoFileHard uint64 `json:"nofile_hard"`
}

// Settled returns this process's Stats after collecting garbage and
// returning freed memory to the OS, so that the heap, goroutine and RSS
// figures describe what is live. It collects twice: objects in sync.Pool
// survive one collection (the victim cache), and pooled buffers and
// (de)compressors are shared caches, not memory a connection holds.
func Settled() Stats {
	debug.FreeOSMemory()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, hwm := RSS()
	soft, hard := NoFileLimit()
	return Stats{
		Goroutines: runtime.NumGoroutine(),
		HeapInuse:  ms.HeapInuse,
		StackInuse: ms.StackInuse,
		RSSKiB:     rss,
		HWMKiB:     hwm,
		CPUNs:      CPUTime(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		NoFileSoft: soft,
		NoFileHard: hard,
	}
}

// StartCPUProfile writes a CPU profile of this process to the file at
// path until the returned function is called; when the file cannot be
// created or profiling cannot start, it does nothing.
func StartCPUProfile(path string) (stop func()) {
	f, err := os.Create(path)
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

// WriteHeapProfile writes the heap profile (as of the last garbage
// collection) to the file at path, and nothing when it cannot be created.
func WriteHeapProfile(path string) {
	if f, err := os.Create(path); err == nil {
		_ = pprof.WriteHeapProfile(f)
		f.Close()
	}
}
