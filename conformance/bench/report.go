package main

import (
	"fmt"
	"math"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/wsio/wsio/conformance/internal/proc"
)

// table is one result table: rows × libraries, each cell the samples of
// all rounds; it shows their median.
type table struct {
	section      string
	title        string
	unit         string
	higherBetter bool
	lowerBetter  map[string]bool // rows where lower is better in a higher-is-better table
	note         string
	rows         []string
	cols         []string // if set, the columns instead of the -libs libraries
	samples      map[string]map[string][]float64
}

func (t *table) addRow(row string) {
	if !slices.Contains(t.rows, row) {
		t.rows = append(t.rows, row)
	}
}

func (t *table) add(row, lib string, v float64) {
	t.addRow(row)
	if t.samples[row] == nil {
		t.samples[row] = map[string][]float64{}
	}
	t.samples[row][lib] = append(t.samples[row][lib], v)
}

// Median returns the median of the samples of row and lib, and whether
// there were any.
func (t *table) Median(row, lib string) (float64, bool) {
	s := slices.Clone(t.samples[row][lib])
	if len(s) == 0 {
		return 0, false
	}
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}

// grid returns the header and the cells: one column per library, then
// wsio's ratio to each other library (raw TCP included).
func (t *table) grid(libs []string) ([]string, [][]string) {
	if t.cols != nil {
		libs = t.cols
	}
	head := append([]string{""}, libs...)
	var others []string
	if slices.Contains(libs, "wsio") {
		for _, l := range libs {
			if l != "wsio" {
				others = append(others, l)
				head = append(head, "wsio/"+l)
			}
		}
	}
	var cells [][]string
	for _, row := range t.rows {
		line := []string{row}
		for _, l := range libs {
			if v, ok := t.Median(row, l); ok {
				line = append(line, fmtNum(v))
			} else {
				line = append(line, "–")
			}
		}
		w, wok := t.Median(row, "wsio")
		for _, l := range others {
			v, ok := t.Median(row, l)
			if !wok || !ok || v == 0 || w == 0 || (w < 0) != (v < 0) {
				line = append(line, "–")
				continue
			}
			line = append(line, fmtRatio(w/v))
		}
		cells = append(cells, line)
	}
	return head, cells
}

func (t *table) text(libs []string) string {
	head, cells := t.grid(libs)
	width := make([]int, len(head))
	for i, h := range head {
		width[i] = len([]rune(h))
	}
	for _, line := range cells {
		for i, c := range line {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "== %s\n", t.title)
	pad := func(s string, w int, left bool) string {
		n := w - len([]rune(s))
		if left {
			return s + strings.Repeat(" ", n)
		}
		return strings.Repeat(" ", n) + s
	}
	for i, h := range head {
		b.WriteString(pad(h, width[i], i == 0) + "  ")
	}
	b.WriteString("\n")
	for _, line := range cells {
		for i, c := range line {
			b.WriteString(pad(c, width[i], i == 0) + "  ")
		}
		b.WriteString("\n")
	}
	if spread := t.roundRatios(); spread != "" {
		fmt.Fprintf(&b, "wsio/raw round by round: %s\n", spread)
	}
	return b.String()
}

func (t *table) markdown(libs []string) string {
	head, cells := t.grid(libs)
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", t.title)
	if t.note != "" {
		fmt.Fprintf(&b, "%s\n\n", t.note)
	}
	b.WriteString("| " + strings.Join(head, " | ") + " |\n|---")
	for range head[1:] {
		b.WriteString("|---:")
	}
	b.WriteString("|\n")
	for _, line := range cells {
		b.WriteString("| " + strings.Join(line, " | ") + " |\n")
	}
	if spread := t.roundRatios(); spread != "" {
		fmt.Fprintf(&b, "\nwsio/raw round by round (the spread behind the median ratio): %s\n", spread)
	}
	return b.String()
}

// roundRatios returns wsio's ratio to raw TCP in each round, row by row
// ("row: r1 r2 …; …"), or "" when the table has no such pair. Rounds
// measure every library in turn, so the i-th samples of wsio and raw come
// from the same round. A row where the two have different numbers of
// samples (one lost a round to a failure, listed above the tables) is
// left out, as its samples no longer pair up.
func (t *table) roundRatios() string {
	var parts []string
	for _, row := range t.rows {
		w, r := t.samples[row]["wsio"], t.samples[row]["raw"]
		if len(w) == 0 || len(w) != len(r) {
			continue
		}
		rs := make([]string, len(w))
		for i := range w {
			if r[i] == 0 {
				rs[i] = "–"
				continue
			}
			rs[i] = fmtRatio(w[i] / r[i])
		}
		parts = append(parts, row+": "+strings.Join(rs, " "))
	}
	return strings.Join(parts, "; ")
}

// fmtRatio prints a ratio with two decimals, or three significant digits
// when it is far from 1.
func fmtRatio(x float64) string {
	if x < 0.1 {
		return fmt.Sprintf("%.2g", x)
	}
	if x >= 100 {
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%.2f", x)
}

// fmtNum prints 3 significant digits, with thousands separators above 1000.
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1000:
		s := fmt.Sprintf("%.0f", math.Abs(v))
		var out []byte
		for i := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				out = append(out, ',')
			}
			out = append(out, s[i])
		}
		if v < 0 {
			return "-" + string(out)
		}
		return string(out)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a == 0:
		return "0"
	}
	return fmt.Sprintf("%.3f", v)
}

// report is the set of tables plus what is needed to reproduce them.
type report struct {
	cfg      *config
	start    time.Time
	took     time.Duration
	load     string
	tables   []*table
	failures []string
}

func newReport(cfg *config) *report {
	return &report{cfg: cfg, start: time.Now(), load: proc.LoadAvg()}
}

func (r *report) table(section, title, unit string, higherBetter bool) *table {
	t := &table{section: section, title: title, unit: unit, higherBetter: higherBetter, samples: map[string]map[string][]float64{}}
	r.tables = append(r.tables, t)
	return t
}

// Tables returns the tables of one benchmark.
func (r *report) Tables(section string) []*table {
	var out []*table
	for _, t := range r.tables {
		if t.section == section {
			out = append(out, t)
		}
	}
	return out
}

func (r *report) finish() { r.took = time.Since(r.start) }

func (r *report) markdown() string {
	var b strings.Builder
	b.WriteString("# wsio side-by-side benchmarks\n\n")
	b.WriteString("<!-- generated by conformance/bench; do not edit by hand -->\n\n")
	fmt.Fprintf(&b, "Command (from `conformance/`): `%s`  \n", proc.CommandLine("go run ./bench", r.cfg.args))
	fmt.Fprintf(&b, "Run: %s, took %s; rounds per figure: %d (median shown)  \n",
		r.start.UTC().Format("2006-01-02 15:04 UTC"), r.took.Round(time.Second), r.cfg.rounds)
	fmt.Fprintf(&b, "Machine: %s; load average at start: %s  \n", proc.Machine(), r.load)
	soft, hard := proc.NoFileLimit()
	fmt.Fprintf(&b, "RLIMIT_NOFILE raised to %d (hard %d); client sources spread over 127.0.0.10–127.0.0.%d  \n",
		soft, hard, 10+numSources-1)
	fmt.Fprintf(&b, "Libraries: %s\n\n", depVersions())
	b.WriteString("Loopback only; client and server are separate processes (the bench binary re-executes itself), " +
		"both on the same machine, so they share its cores. Ratio columns are wsio's figure divided by the other " +
		"library's (above 1 means wsio's number is bigger, which is better for throughput and worse for memory).\n\n")
	if len(r.failures) > 0 {
		b.WriteString("**Failed measurements:**\n\n")
		for _, f := range r.failures {
			fmt.Fprintf(&b, "- `%s`\n", oneLine(f))
		}
		b.WriteString("\n")
	}
	section := ""
	for _, t := range r.tables {
		if t.section != section {
			section = t.section
			fmt.Fprintf(&b, "## %s\n\n", section)
		}
		b.WriteString(t.markdown(r.cfg.libs))
		b.WriteString("\n")
	}
	b.WriteString("## How each library is used\n\n")
	b.WriteString("Every server but raw TCP and wsio runs behind net/http (`http.Server`, the library's upgrade in the handler); " +
		"wsio runs its own `Server.Serve`, and the echo, idle and handshake tables add wsio-http, the same server under net/http, " +
		"and its event server under Serve (wsio-events) and under net/http (wsio-events-http). " +
		"The relay table's relays are servers of each library that dial a sink of the same library (see its note). " +
		"Library defaults throughout, except read limits raised where a library's default refuses the payloads. " +
		"Pull-style servers read with one goroutine per connection (the handler's); receivers read binary messages " +
		"as streams through a 64 KiB buffer (echo: into a pooled buffer, then written back whole).\n\n")
	for _, name := range withFloor(withHTTP(r.cfg.libs)) {
		if l := anyLib(name); l != nil {
			fmt.Fprintf(&b, "- **%s**: %s\n", name, l.notes)
		}
	}
	if len(r.Tables("h2")) > 0 {
		for _, l := range []*library{wsioH1TLSLib, wsioH2Lib} {
			fmt.Fprintf(&b, "- **%s**: %s\n", l.name, l.notes)
		}
	}
	return b.String()
}

// depVersions lists the measured libraries' module versions, and wsio's
// commit when git can tell.
func depVersions() string {
	want := []string{"github.com/gorilla/websocket", "github.com/coder/websocket", "github.com/lxzan/gws", "github.com/gobwas/ws"}
	have := map[string]string{}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			have[d.Path] = d.Version
		}
	}
	wsio := "wsio (this tree"
	if tree := proc.GitDescribe(); tree != "" {
		wsio += " at " + tree
	}
	parts := []string{wsio + ")"}
	for _, p := range want {
		v := have[p]
		if v == "" {
			v = "?"
		}
		parts = append(parts, p+" "+v)
	}
	return strings.Join(parts, ", ")
}
