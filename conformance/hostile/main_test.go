package hostile

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsio/wsio/internal/wstest"
)

// TestMain runs the tests, writes the report when WSIO_HOSTILE_REPORT
// names a file, and fails a passing run if goroutines running wsio code
// (the library or these tests) outlive the tests (wstest.CheckLeaks).
func TestMain(m *testing.M) {
	code := m.Run()
	if path := os.Getenv("WSIO_HOSTILE_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(reportMarkdown()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "hostile: writing the report:", err)
			code = 1
		}
	}
	os.Exit(wstest.CheckLeaks(code))
}

// A row of the report: what one test tried and what happened.
type row struct {
	area     string
	test     string
	tried    string
	happened string
	result   string
	dur      time.Duration
}

var report struct {
	mu   sync.Mutex
	rows []*row
}

// record starts the report row of t. The result and duration are filled in
// when t ends.
func record(t *testing.T, area, tried string) *row {
	t.Helper()
	r := &row{area: area, test: t.Name(), tried: tried}
	start := time.Now()
	report.mu.Lock()
	report.rows = append(report.rows, r)
	report.mu.Unlock()
	t.Cleanup(func() {
		report.mu.Lock()
		defer report.mu.Unlock()
		r.dur = time.Since(start)
		switch {
		case t.Skipped():
			r.result = "SKIP"
		case t.Failed():
			r.result = "FAIL"
		default:
			r.result = "PASS"
		}
	})
	return r
}

// saw sets what happened.
func (r *row) saw(format string, args ...any) {
	report.mu.Lock()
	r.happened = fmt.Sprintf(format, args...)
	report.mu.Unlock()
}

// bug records a library bug on the row and fails the test.
func bug(t *testing.T, r *row, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	r.saw("**BUG**: %s", msg)
	t.Fatal("BUG: " + msg)
}

var areaOrder = []string{"Handshake", "Frames", "Client", "Memory", "Faults", "Shutdown", "Keepalive"}

// reportMarkdown renders the rows as a Markdown table, grouped by area in
// areaOrder, each group sorted by test name.
func reportMarkdown() string {
	report.mu.Lock()
	defer report.mu.Unlock()
	var b strings.Builder
	b.WriteString("| Area | What was tried | What happened | Result | Time |\n")
	b.WriteString("|---|---|---|---|---:|\n")
	cell := func(s string) string {
		s = strings.ReplaceAll(s, "|", `\|`)
		return strings.ReplaceAll(s, "\n", " ")
	}
	pass, total := 0, 0
	write := func(r *row) {
		total++
		if r.result == "PASS" {
			pass++
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.area, cell(r.tried), cell(r.happened), r.result, fmtDur(r.dur))
	}
	rows := slices.Clone(report.rows)
	slices.SortStableFunc(rows, func(a, b *row) int { return strings.Compare(a.test, b.test) })
	done := make(map[*row]bool)
	for _, a := range areaOrder {
		for _, r := range rows {
			if r.area == a {
				write(r)
				done[r] = true
			}
		}
	}
	for _, r := range rows {
		if !done[r] {
			write(r)
		}
	}
	fmt.Fprintf(&b, "\n%d of %d cases pass (go test -race, %s/%s, GOMAXPROCS %d).\n", pass, total, runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0))
	return b.String()
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return "<1 ms"
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	default:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
}
