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
	// bestOf, when set, replaces the wsio/x ratio columns: a "best"
	// column names the better of these libraries in each row (see
	// better), and a column per wsio server shape (wsio, wsio-*) divides
	// its figure by that library's.
	bestOf []string
	// noRatios leaves out the ratio columns (and the wsio/raw line): the
	// table shows each library's figure alone, for figures whose ratios
	// say nothing (counts near zero).
	noRatios bool
	// byRound makes text and markdown add a second grid with every
	// round's figures (see roundGrid); the samples must be added with
	// addRound.
	byRound bool
	// round holds, per row and library, the round of each sample added
	// with addRound.
	round map[string]map[string][]int
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

// addRound is add recording that v was measured in round (from 1).
func (t *table) addRound(row, lib string, round int, v float64) {
	t.add(row, lib, v)
	if t.round == nil {
		t.round = map[string]map[string][]int{}
	}
	if t.round[row] == nil {
		t.round[row] = map[string][]int{}
	}
	t.round[row][lib] = append(t.round[row][lib], round)
}

// inRound returns the sample of row and lib measured in round, and
// whether there is one.
func (t *table) inRound(row, lib string, round int) (float64, bool) {
	if i := slices.Index(t.round[row][lib], round); i >= 0 {
		return t.samples[row][lib][i], true
	}
	return 0, false
}

// rounds returns the highest round of any sample added with addRound.
func (t *table) rounds() int {
	n := 0
	for _, libs := range t.round {
		for _, rs := range libs {
			for _, r := range rs {
				n = max(n, r)
			}
		}
	}
	return n
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
// wsio's ratio to each other library (raw TCP included), or with bestOf
// the ratios to the best (see bestGrid).
func (t *table) grid(libs []string) ([]string, [][]string) {
	if t.cols != nil {
		libs = t.cols
	}
	if t.bestOf != nil || t.noRatios {
		return t.bestGrid(libs, t.medianLines())
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

// isWsioShape reports whether the column lib is one of wsio's server
// shapes (wsio, wsio-http, wsio-events, ...).
func isWsioShape(lib string) bool { return lib == "wsio" || strings.HasPrefix(lib, "wsio-") }

// gridLine is one line of a grid: its label, the table row it belongs to
// (whose lowerBetter entry applies) and its figure for each library.
type gridLine struct {
	label string
	row   string
	val   func(lib string) (float64, bool)
}

// medianLines is a line per row of t with the rows' medians.
func (t *table) medianLines() []gridLine {
	lines := make([]gridLine, len(t.rows))
	for i, row := range t.rows {
		lines[i] = gridLine{row, row, func(lib string) (float64, bool) { return t.Median(row, lib) }}
	}
	return lines
}

// bestGrid is grid for a table with bestOf: one column per library, then
// "best" (the bestOf library with the better figure in that line; see
// better) and each wsio shape's figure divided by the best one
// ("x/best"). Without a wsio shape or a bestOf library among libs, or
// with noRatios, there are no ratio columns.
func (t *table) bestGrid(libs []string, lines []gridLine) ([]string, [][]string) {
	var shapes, refs []string
	for _, l := range libs {
		if isWsioShape(l) {
			shapes = append(shapes, l)
		}
		if slices.Contains(t.bestOf, l) {
			refs = append(refs, l)
		}
	}
	ratios := !t.noRatios && len(shapes) > 0 && len(refs) > 0
	head := append([]string{""}, libs...)
	if ratios {
		head = append(head, "best")
		for _, s := range shapes {
			head = append(head, s+"/best")
		}
	}
	var cells [][]string
	for _, ln := range lines {
		line := []string{ln.label}
		for _, l := range libs {
			if v, ok := ln.val(l); ok {
				line = append(line, fmtNum(v))
			} else {
				line = append(line, "–")
			}
		}
		if !ratios {
			cells = append(cells, line)
			continue
		}
		best, bv, bok := t.better(ln.row, refs, ln.val)
		if !bok {
			best = "–"
		}
		line = append(line, best)
		for _, s := range shapes {
			v, ok := ln.val(s)
			if !ok || !bok || bv == 0 || (v < 0) != (bv < 0) {
				line = append(line, "–")
				continue
			}
			line = append(line, fmtRatio(v/bv))
		}
		cells = append(cells, line)
	}
	return head, cells
}

// better returns which of libs has the better figure val(lib) in row (the
// larger where the row is higher-is-better, else the smaller) and that
// figure; ok is false when none of them has one. A tie goes to the first.
func (t *table) better(row string, libs []string, val func(lib string) (float64, bool)) (best string, v float64, ok bool) {
	higher := t.higherBetter && !t.lowerBetter[row]
	for _, l := range libs {
		x, has := val(l)
		if !has {
			continue
		}
		if !ok || (higher && x > v) || (!higher && x < v) {
			best, v, ok = l, x, true
		}
	}
	return best, v, ok
}

// roundGrid returns every round's figures in bestGrid's layout: a line
// per row and round, labelled "row, round k", whose ratio columns (with
// bestOf) come from that round's figures alone. A library without a
// sample in a round (the measurement failed) shows "–".
func (t *table) roundGrid(libs []string) ([]string, [][]string) {
	if t.cols != nil {
		libs = t.cols
	}
	var lines []gridLine
	n := t.rounds()
	for _, row := range t.rows {
		for k := 1; k <= n; k++ {
			lines = append(lines, gridLine{fmt.Sprintf("%s, round %d", row, k), row,
				func(lib string) (float64, bool) { return t.inRound(row, lib, k) }})
		}
	}
	return t.bestGrid(libs, lines)
}

// writeText writes head and cells as aligned plain-text columns.
func writeText(b *strings.Builder, head []string, cells [][]string) {
	width := make([]int, len(head))
	for i, h := range head {
		width[i] = len([]rune(h))
	}
	for _, line := range cells {
		for i, c := range line {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
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
}

// writeMarkdown writes head and cells as a Markdown table.
func writeMarkdown(b *strings.Builder, head []string, cells [][]string) {
	b.WriteString("| " + strings.Join(head, " | ") + " |\n|---")
	for range head[1:] {
		b.WriteString("|---:")
	}
	b.WriteString("|\n")
	for _, line := range cells {
		b.WriteString("| " + strings.Join(line, " | ") + " |\n")
	}
}

func (t *table) text(libs []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "== %s\n", t.title)
	head, cells := t.grid(libs)
	writeText(&b, head, cells)
	if t.byRound {
		b.WriteString("-- round by round:\n")
		head, cells = t.roundGrid(libs)
		writeText(&b, head, cells)
	}
	for _, ref := range spreadRefs {
		if spread := t.roundRatios(ref); spread != "" {
			fmt.Fprintf(&b, "wsio/%s round by round: %s\n", ref, spread)
		}
	}
	return b.String()
}

func (t *table) markdown(libs []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", t.title)
	if t.note != "" {
		fmt.Fprintf(&b, "%s\n\n", t.note)
	}
	head, cells := t.grid(libs)
	writeMarkdown(&b, head, cells)
	if t.byRound {
		b.WriteString("\nRound by round (the figures behind the medians; the ratios are each round's own):\n\n")
		head, cells = t.roundGrid(libs)
		writeMarkdown(&b, head, cells)
	}
	for _, ref := range spreadRefs {
		if spread := t.roundRatios(ref); spread != "" {
			fmt.Fprintf(&b, "\nwsio/%s round by round (the spread behind the median ratio): %s\n", ref, spread)
		}
	}
	return b.String()
}

// spreadRefs are the columns whose ratios to wsio a table prints round by
// round (roundRatios), when it has them: raw TCP, and the relay table's
// plain TCP relay.
var spreadRefs = []string{"raw", tcpRelayCol}

// roundRatios returns wsio's ratio to column ref in each round, row by row
// ("row: r1 r2 …; …"), or "" when the table has no such pair or has
// bestOf (whose round-by-round grid has the ratios that matter) or
// noRatios. Rounds measure every library in turn, so the i-th samples of
// wsio and ref come from the same round. A row where the two have
// different numbers of samples (one lost a round to a failure, listed
// above the tables) is left out, as its samples no longer pair up.
func (t *table) roundRatios(ref string) string {
	if t.bestOf != nil || t.noRatios {
		return ""
	}
	var parts []string
	for _, row := range t.rows {
		w, r := t.samples[row]["wsio"], t.samples[row][ref]
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
		"library's (above 1 means wsio's number is bigger, which is better for throughput and worse for memory); " +
		"the latency tables' x/best columns divide each wsio server shape's figure by the better of gorilla's and coder's.")
	if len(r.Tables("code")) > 0 {
		b.WriteString(" The code tables are the exception to the first sentence: there the bench process runs each server " +
			"itself over an in-memory connection, with no socket or second process (see their note), and their x/best " +
			"columns are the latency tables' kind.")
	}
	b.WriteString("\n\n")
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
		"wsio runs its own `Server.Serve`, and the echo, latency, idle and handshake tables add wsio-http, the same server under net/http, " +
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
	if len(r.Tables("latency")) > 0 && r.cfg.latClient == "raw" {
		fmt.Fprintf(&b, "- **ws-raw** (the latency tables' common client, -client raw): %s\n", wsRawLib.notes)
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
