package binstream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

type frame struct {
	payload    []byte
	first, fin bool
}

// fakeSink records frames and can fail after a number of them.
type fakeSink struct {
	frames []frame
	failAt int // fail the failAt-th frame (1-based); 0 never
	done   int
}

var errSink = errors.New("sink broke")

func (s *fakeSink) WriteFrame(p []byte, first, fin bool) error {
	if s.failAt > 0 && len(s.frames)+1 == s.failAt {
		return errSink
	}
	s.frames = append(s.frames, frame{bytes.Clone(p), first, fin})
	return nil
}

func (s *fakeSink) Done() { s.done++ }

func (s *fakeSink) joined() []byte {
	var b []byte
	for _, f := range s.frames {
		b = append(b, f.payload...)
	}
	return b
}

// checkShape asserts RFC-correct fragmentation: first flag only on frame 0,
// fin only on the last, every frame but the last exactly size bytes.
func checkShape(t *testing.T, s *fakeSink, size int) {
	t.Helper()
	if len(s.frames) == 0 {
		t.Fatal("no frames")
	}
	for i, f := range s.frames {
		last := i == len(s.frames)-1
		if f.first != (i == 0) || f.fin != last {
			t.Fatalf("frame %d: first=%v fin=%v", i, f.first, f.fin)
		}
		if !last && len(f.payload) != size {
			t.Fatalf("frame %d has %d bytes, want exactly %d", i, len(f.payload), size)
		}
		if last && len(f.payload) > size {
			t.Fatalf("last frame has %d bytes > %d", len(f.payload), size)
		}
	}
	if s.done != 1 {
		t.Fatalf("Done called %d times", s.done)
	}
}

func TestWriterFragments(t *testing.T) {
	t.Parallel()
	data := bytes.Repeat([]byte("0123456789abcdef"), 1000) // 16000 bytes
	tests := []struct {
		name   string
		size   int
		chunks []int // Write sizes; the rest in one
		frames int
	}{
		{"one write, exact multiple", 1000, nil, 17},
		{"one write, remainder", 3000, nil, 6},
		{"small writes", 1024, []int{1, 2, 3, 500, 700, 1}, 16},
		{"writes larger than size", 700, []int{1500, 2900}, 23},
		{"size bigger than message", 1 << 20, nil, 1},
		{"size one", 1, []int{3}, 16001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &fakeSink{}
			w := NewWriter(s, tt.size)
			rest := data
			for _, c := range tt.chunks {
				n, err := w.Write(rest[:c])
				if n != c || err != nil {
					t.Fatalf("Write: %d, %v", n, err)
				}
				rest = rest[c:]
			}
			if _, err := w.Write(rest); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			checkShape(t, s, tt.size)
			if len(s.frames) != tt.frames {
				t.Fatalf("%d frames, want %d", len(s.frames), tt.frames)
			}
			if !bytes.Equal(s.joined(), data) || w.Written() != int64(len(data)) {
				t.Fatal("payload differs")
			}
			if err := w.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if _, err := w.Write([]byte("x")); !errors.Is(err, ErrClosed) {
				t.Fatalf("Write after Close: %v", err)
			}
		})
	}
}

func TestWriterEmptyMessage(t *testing.T) {
	t.Parallel()
	s := &fakeSink{}
	w := NewWriter(s, 10)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if len(s.frames) != 1 || !s.frames[0].first || !s.frames[0].fin || len(s.frames[0].payload) != 0 {
		t.Fatalf("frames = %+v", s.frames)
	}
}

func TestReadFrom(t *testing.T) {
	t.Parallel()
	data := strings.Repeat("stream me ", 10_000)
	for _, size := range []int{1, 7, 4096, 100_000, 1 << 20} {
		for name, r := range map[string]io.Reader{
			"plain":    strings.NewReader(data),
			"onebyte":  iotest.OneByteReader(strings.NewReader(data)),
			"dataerr":  iotest.DataErrReader(strings.NewReader(data)),
			"halfread": iotest.HalfReader(strings.NewReader(data)),
		} {
			if size == 1 && name != "plain" {
				continue
			}
			s := &fakeSink{}
			w := NewWriter(s, size)
			n, err := io.Copy(w, r)
			if err != nil || n != int64(len(data)) {
				t.Fatalf("size %d %s: Copy = %d, %v", size, name, n, err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			checkShape(t, s, size)
			if string(s.joined()) != data {
				t.Fatalf("size %d %s: payload differs", size, name)
			}
		}
	}
}

func TestReadFromError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	s := &fakeSink{}
	w := NewWriter(s, 4)
	_, err := w.ReadFrom(io.MultiReader(strings.NewReader("abcdefg"), iotest.ErrReader(boom)))
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	// The message is still open: the caller decides.
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkShape(t, s, 4)
}

func TestSinkErrorIsSticky(t *testing.T) {
	t.Parallel()
	s := &fakeSink{failAt: 2}
	w := NewWriter(s, 4)
	n, err := w.Write([]byte("0123456789"))
	if !errors.Is(err, errSink) || n != 4 {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, errSink) {
		t.Fatalf("second Write: %v", err)
	}
	if err := w.Close(); !errors.Is(err, errSink) {
		t.Fatalf("Close: %v", err)
	}
	if s.done != 1 {
		t.Fatalf("Done called %d times", s.done)
	}
}

func TestReadFromAllocs(t *testing.T) {
	data := bytes.Repeat([]byte{1}, 1<<20)
	s := &discardSink{}
	r := bytes.NewReader(data)
	// Warm the pool.
	w := NewWriter(s, 64<<10)
	_, _ = w.ReadFrom(r)
	_ = w.Close()
	allocs := testing.AllocsPerRun(20, func() {
		r.Reset(data)
		w := NewWriter(s, 64<<10)
		if _, err := io.Copy(w, r); err != nil {
			t.Fatal(err)
		}
		_ = w.Close()
	})
	// One for the Writer itself; none per chunk.
	if allocs > 1 {
		t.Fatalf("%v allocations per 1 MiB copy, want at most 1", allocs)
	}
}

type discardSink struct{}

func (discardSink) WriteFrame([]byte, bool, bool) error { return nil }
func (discardSink) Done()                               {}

func BenchmarkReadFrom(b *testing.B) {
	data := bytes.Repeat([]byte{1}, 4<<20)
	r := bytes.NewReader(data)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(data)
		w := NewWriter(discardSink{}, 512<<10)
		_, _ = io.Copy(w, r)
		_ = w.Close()
	}
}

func BenchmarkWriteSmall(b *testing.B) {
	p := make([]byte, 1024)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	w := NewWriter(discardSink{}, 512<<10)
	for b.Loop() {
		_, _ = w.Write(p)
	}
	_ = w.Close()
}

// WriteFinal puts a message's last bytes in its final frame: k whole
// fragments are k frames, and only an empty message is an empty frame,
// whether the Writer held bytes from earlier writes or not.
func TestWriteFinal(t *testing.T) {
	t.Parallel()
	const size = 10
	data := []byte(strings.Repeat("0123456789abcdefghij", 3))
	for _, tt := range []struct {
		before, final int // bytes given to Write, then to WriteFinal
		sizes         []int
	}{
		{0, 0, []int{0}},
		{0, 1, []int{1}},
		{0, size - 1, []int{size - 1}},
		{0, size, []int{size}},
		{0, size + 1, []int{size, 1}},
		{0, 3 * size, []int{size, size, size}},
		{3, 0, []int{3}},
		{3, size - 3, []int{size}},
		{3, size - 2, []int{size, 1}},
		{3, 2*size - 3, []int{size, size}},
		{size, 0, []int{size, 0}}, // the full fragment went out with Write
		{size, size, []int{size, size}},
		{size + 4, size + 6, []int{size, size, size}},
	} {
		s := &fakeSink{}
		w := NewWriter(s, size)
		if _, err := w.Write(data[:tt.before]); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteFinal(data[tt.before : tt.before+tt.final]); err != nil {
			t.Fatalf("%d+%d: WriteFinal: %v", tt.before, tt.final, err)
		}
		checkShape(t, s, size)
		var sizes []int
		for _, f := range s.frames {
			sizes = append(sizes, len(f.payload))
		}
		if fmt.Sprint(sizes) != fmt.Sprint(tt.sizes) {
			t.Errorf("%d+%d: frames of %v bytes, want %v", tt.before, tt.final, sizes, tt.sizes)
		}
		if !bytes.Equal(s.joined(), data[:tt.before+tt.final]) || w.Written() != int64(tt.before+tt.final) {
			t.Errorf("%d+%d: payload differs", tt.before, tt.final)
		}
		if err := w.WriteFinal([]byte("x")); !errors.Is(err, ErrClosed) {
			t.Errorf("WriteFinal after WriteFinal: %v", err)
		}
		if _, err := w.Write([]byte("x")); !errors.Is(err, ErrClosed) {
			t.Errorf("Write after WriteFinal: %v", err)
		}
		if err := w.Close(); err != nil {
			t.Errorf("Close after WriteFinal: %v", err)
		}
		if s.done != 1 {
			t.Errorf("Done called %d times", s.done)
		}
	}
}

// A frame that fails ends the message: WriteFinal returns the error and
// tells the sink once; later calls return the error.
func TestWriteFinalSinkError(t *testing.T) {
	t.Parallel()
	for _, failAt := range []int{1, 2, 3} {
		s := &fakeSink{failAt: failAt}
		w := NewWriter(s, 4)
		if err := w.WriteFinal([]byte("0123456789")); !errors.Is(err, errSink) {
			t.Fatalf("frame %d failing: WriteFinal = %v", failAt, err)
		}
		if len(s.frames) != failAt-1 || s.done != 1 {
			t.Fatalf("frame %d failing: %d frames sent, Done called %d times", failAt, len(s.frames), s.done)
		}
		if err := w.Close(); !errors.Is(err, errSink) {
			t.Fatalf("Close after the failure: %v", err)
		}
		if err := w.WriteFinal(nil); !errors.Is(err, errSink) || s.done != 1 {
			t.Fatalf("WriteFinal after the failure: %v, Done called %d times", err, s.done)
		}
	}
}

// A message given whole to WriteFinal goes straight from the caller's
// slice: a reused Writer allocates nothing and takes no buffer.
func TestWriteFinalAllocs(t *testing.T) {
	p := make([]byte, 3000)
	var w Writer
	allocs := testing.AllocsPerRun(50, func() {
		w.Reset(discardSink{}, 1000)
		if err := w.WriteFinal(p); err != nil {
			t.Fatal(err)
		}
		if w.bufp != nil {
			t.Fatal("WriteFinal took a buffer")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per message, want 0", allocs)
	}
}

// scratchSink is a fakeSink that is also a ScratchSink: it records each
// scratch frame and then overwrites its payload, as a client masking in
// place does.
type scratchSink struct {
	fakeSink
	scratch int // frames given as scratch
}

func (s *scratchSink) WriteScratchFrame(p []byte, first, fin bool) error {
	if err := s.WriteFrame(p, first, fin); err != nil {
		return err
	}
	s.scratch++
	for i := range p {
		p[i] = 0xff
	}
	return nil
}

// A ScratchSink is given the Writer's own buffer as scratch and never the
// caller's bytes: whatever the sink does to a scratch payload, the
// caller's slice and the message stay as written.
func TestWriterScratchFrames(t *testing.T) {
	t.Parallel()
	data := bytes.Repeat([]byte("0123456789abcdef"), 1000) // 16000 bytes
	tests := []struct {
		name    string
		size    int
		send    func(w *Writer, p []byte) error
		scratch bool // some frames come from the Writer's buffer
	}{
		{"one write", 3000, func(w *Writer, p []byte) error { _, err := w.Write(p); return err }, true},
		{"small writes", 1024, func(w *Writer, p []byte) error {
			for len(p) > 0 {
				k := min(len(p), 700)
				if _, err := w.Write(p[:k]); err != nil {
					return err
				}
				p = p[k:]
			}
			return nil
		}, true},
		{"WriteFinal whole", 1000, func(w *Writer, p []byte) error { return w.WriteFinal(p) }, false},
		{"WriteFinal after a byte", 1000, func(w *Writer, p []byte) error {
			if _, err := w.Write(p[:1]); err != nil {
				return err
			}
			return w.WriteFinal(p[1:])
		}, true},
		{"ReadFrom", 4096, func(w *Writer, p []byte) error { _, err := w.ReadFrom(bytes.NewReader(p)); return err }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &scratchSink{}
			w := NewWriter(s, tt.size)
			p := bytes.Clone(data)
			if err := tt.send(w, p); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(p, data) {
				t.Fatal("the caller's bytes were overwritten")
			}
			checkShape(t, &s.fakeSink, tt.size)
			if !bytes.Equal(s.joined(), data) {
				t.Fatal("payload differs")
			}
			if (s.scratch > 0) != tt.scratch {
				t.Fatalf("%d of %d frames given as scratch", s.scratch, len(s.frames))
			}
		})
	}
}
