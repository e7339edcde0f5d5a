package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A block is a marked part of the README and how to compute it from the
// files under the repository root.
type block struct {
	name string
	make func(root string) (string, error)
}

// The report files the README summarises, relative to the repository root.
const (
	quickstartFile   = "docs/quickstart/main.go"
	serverReport     = "conformance/reports/client-wsio/index.md"    // the suite as client tests wsio's server
	clientReport     = "conformance/reports/server-wsio/index.md"    // the suite as server tests wsio's client
	serverReportH2   = "conformance/reports/client-wsio-h2/index.md" // the same over HTTP/2 (RFC 8441)
	clientReportH2   = "conformance/reports/server-wsio-h2/index.md"
	interopReport    = "conformance/reports/interop.md"
	hostileReport    = "conformance/reports/hostile.md"
	soakReport       = "conformance/soak/results.md"
	soakReport1      = "conformance/soak/results-gomaxprocs1.md"
	benchReport      = "conformance/bench/results.md"
	benchDeflateFile = "conformance/bench/results-deflate.md"
)

var blocks = []block{
	{"quickstart", quickstart},
	{"idle-conns", func(root string) (string, error) { return idleFigure(root, "conns") }},
	{"idle-events", func(root string) (string, error) { return idleFigure(root, "wsio-events") }},
	{"idle-goroutine", func(root string) (string, error) { return idleFigure(root, "wsio") }},
	{"conformance", conformanceSummary},
	{"interop", interopSummary},
	{"hostile", hostileSummary},
	{"soak", soakSummary},
	{"bench", benchSummary},
}

func read(root, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, name))
	return string(b), err
}

// quickstart is the README's complete program: docs/quickstart/main.go,
// which the root module builds and vets, without its leading comment.
func quickstart(root string) (string, error) {
	src, err := read(root, quickstartFile)
	if err != nil {
		return "", err
	}
	i := strings.Index(src, "package main")
	if i < 0 {
		return "", errors.New(quickstartFile + " is not a main package")
	}
	return "```go\n" + strings.TrimSpace(src[i:]) + "\n```", nil
}

// conformanceSummary is one row per role from the Total rows of the two
// suite reports.
func conformanceSummary(root string) (string, error) {
	roles := []struct{ who, file string }{
		{"server (`examples/echo -deflate`)", serverReport},
		{"client (`conformance/cmd/echoclient`)", clientReport},
		{"server over HTTP/2", serverReportH2},
		{"client over HTTP/2", clientReportH2},
	}
	header := []string{"wsio as", "cases", "OK", "INFORMATIONAL", "NON-STRICT", "UNIMPLEMENTED", "FAILED", ""}
	var rows [][]string
	for _, r := range roles {
		md, err := read(root, r.file)
		if err != nil {
			return "", err
		}
		ts := parseTables(md)
		if len(ts) == 0 {
			return "", fmt.Errorf("%s: no table", r.file)
		}
		who := r.who
		if strings.Contains(md, "Quick mode") {
			who += ", quick sizes"
		}
		row := []string{who}
		for _, c := range header[1:7] {
			name := c
			if c == "cases" {
				name = "Cases"
			}
			v, err := ts[0].cell("Total", name)
			if err != nil {
				return "", fmt.Errorf("%s: %w", r.file, err)
			}
			row = append(row, v)
		}
		rows = append(rows, append(row, "[report]("+r.file+")"))
	}
	return markdown(header, "lrrrrrrl", rows), nil
}

// interopSummary is the first table of the interop report.
func interopSummary(root string) (string, error) {
	md, err := read(root, interopReport)
	if err != nil {
		return "", err
	}
	ts := parseTables(md)
	if len(ts) == 0 {
		return "", fmt.Errorf("%s: no table", interopReport)
	}
	t := ts[0]
	cols := []string{"peer", "version", "checks", "passed", "failed", "skipped"}
	var rows [][]string
	for _, r := range t.rows {
		var row []string
		for _, c := range cols {
			v, err := t.cell(r[0], c)
			if err != nil {
				return "", fmt.Errorf("%s: %w", interopReport, err)
			}
			row = append(row, v)
		}
		rows = append(rows, row)
	}
	return markdown(cols, "llrrrr", rows), nil
}

// hostileSummary counts the hostile report's cases and passes by area.
func hostileSummary(root string) (string, error) {
	md, err := read(root, hostileReport)
	if err != nil {
		return "", err
	}
	ts := parseTables(md)
	if len(ts) == 0 {
		return "", fmt.Errorf("%s: no table", hostileReport)
	}
	t := ts[0]
	area, err := t.col("Area")
	if err != nil {
		return "", err
	}
	result, err := t.col("Result")
	if err != nil {
		return "", err
	}
	var order []string
	cases, pass := map[string]int{}, map[string]int{}
	for _, r := range t.rows {
		a := r[area]
		if _, ok := cases[a]; !ok {
			order = append(order, a)
		}
		cases[a]++
		if r[result] == "PASS" {
			pass[a]++
		}
	}
	var rows [][]string
	total, totalPass := 0, 0
	for _, a := range order {
		rows = append(rows, []string{a, strconv.Itoa(cases[a]), strconv.Itoa(pass[a])})
		total += cases[a]
		totalPass += pass[a]
	}
	rows = append(rows, []string{"**Total**", strconv.Itoa(total), strconv.Itoa(totalPass)})
	return markdown([]string{"area", "cases", "passed"}, "lrr", rows), nil
}

// soak holds the figures of one soak report that the summary shows.
type soak struct {
	file, label, verdict              string
	established, openEnd              string
	intact, lost, corrupted           string
	rate                              string
	rssServer, rssClient, heapPerConn string
	goroutinesBase, goroutinesAfter   string
}

func readSoak(root, file string) (*soak, error) {
	md, err := read(root, file)
	if err != nil {
		return nil, err
	}
	s := &soak{file: file}
	title, _, _ := strings.Cut(md, "\n")
	if _, v, ok := strings.Cut(title, " — "); ok {
		s.verdict = strings.TrimSpace(v)
	} else {
		return nil, fmt.Errorf("%s: no verdict in the title %q", file, title)
	}
	s.label = "default GOMAXPROCS"
	for _, l := range strings.Split(md, "\n") {
		rest, ok := strings.CutPrefix(l, "Children: GOMAXPROCS=")
		if !ok {
			continue
		}
		if n, _, _ := strings.Cut(rest, " "); n != "Go's" {
			s.label = "GOMAXPROCS=" + n
		} else if _, r, ok := strings.Cut(rest, "the server reported "); ok {
			n, _, _ := strings.Cut(r, ",")
			s.label = "GOMAXPROCS=" + n + " (default)"
		}
	}
	ts := parseTables(md)
	checks, err := find(ts, "Checks")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	msgs, err := find(ts, "Messages")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	procs, err := find(ts, "Processes")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	first := func(s string) string { f, _, _ := strings.Cut(s, " "); return f }
	get := func(t table, row, col string, dst *string, f func(string) string) {
		if err != nil {
			return
		}
		var v string
		if v, err = t.cell(row, col); err == nil {
			*dst = f(v)
		}
	}
	same := func(s string) string { return s }
	get(checks, "connections established", "got", &s.established, first)
	get(checks, "open at the end of the hold, client side", "got", &s.openEnd, first)
	get(checks, "messages echoed intact", "got", &s.intact, first)
	get(checks, "lost messages", "got", &s.lost, first)
	get(checks, "corrupted messages", "got", &s.corrupted, first)
	get(msgs, "message phase", "#1", &s.rate, func(v string) string {
		_, r, _ := strings.Cut(v, ": ")
		r, _, _ = strings.Cut(r, " (")
		return r
	})
	get(procs, "peak RSS (VmHWM)", "server", &s.rssServer, same)
	get(procs, "peak RSS (VmHWM)", "client", &s.rssClient, same)
	get(procs, "heap per connection, all connected (− baseline)", "server", &s.heapPerConn, same)
	get(procs, "goroutines: baseline (before any connection)", "server", &s.goroutinesBase, same)
	get(procs, "goroutines: after close", "server", &s.goroutinesAfter, same)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return s, nil
}

func soakSummary(root string) (string, error) {
	var runs []*soak
	for _, f := range []string{soakReport, soakReport1} {
		s, err := readSoak(root, f)
		if err != nil {
			return "", err
		}
		runs = append(runs, s)
	}
	header := []string{""}
	rows := [][]string{
		{"result"},
		{"connections established / open at the end"},
		{"messages intact / lost / corrupted"},
		{"message rate"},
		{"peak RSS, server / client"},
		{"server heap per connection"},
		{"server goroutines before / after"},
	}
	for _, s := range runs {
		header = append(header, fmt.Sprintf("[%s](%s)", s.label, s.file))
		rows[0] = append(rows[0], s.verdict)
		rows[1] = append(rows[1], s.established+" / "+s.openEnd)
		rows[2] = append(rows[2], s.intact+" / "+s.lost+" / "+s.corrupted)
		rows[3] = append(rows[3], s.rate)
		rows[4] = append(rows[4], s.rssServer+" / "+s.rssClient)
		rows[5] = append(rows[5], s.heapPerConn)
		rows[6] = append(rows[6], s.goroutinesBase+" / "+s.goroutinesAfter)
	}
	return markdown(header, "lll", rows), nil
}

// benchRow picks one figure of a benchmark report: row label of the table
// under heading, wsio's column against the best of the peer libraries.
type benchRow struct {
	label   string
	file    string
	heading string
	row     string
	wsio    string
	peers   []string
	lower   bool // lower is better
	unit    string
}

var goPeers = []string{"gorilla", "coder", "gws", "gobwas"}

var benchRows = []benchRow{
	{"echo, 64 connections × 1 KiB", benchReport, "Echo round trips per second", "64 conns × 1 KiB", "wsio", goPeers, false, "round trips/s"},
	{"one 1 GiB message, client → server", benchReport, "Bulk", "client→server MB/s", "wsio", goPeers, false, "MB/s"},
	{"server peak RSS moving 1 GiB", benchReport, "Bulk", "server peak RSS MiB", "wsio", goPeers, true, "MiB"},
	{"idle connection (wsio: event server), server RSS", benchReport, "Idle: server cost per connection with", "RSS KiB/conn", "wsio-events", goPeers, true, "KiB"},
	{"handshakes, 64 in parallel", benchReport, "Handshakes per second", "64 in parallel", "wsio", goPeers, false, "per second"},
	{"compressed echo, 64 connections × 1 KiB JSON", benchDeflateFile, "permessage-deflate: echo round trips per second", "64 conns × ~1 KiB JSON", "wsio", []string{"gorilla", "coder"}, false, "round trips/s"},
}

func benchSummary(root string) (string, error) {
	cache := map[string][]table{}
	var rows [][]string
	for _, br := range benchRows {
		ts, ok := cache[br.file]
		if !ok {
			md, err := read(root, br.file)
			if err != nil {
				return "", err
			}
			ts = parseTables(md)
			cache[br.file] = ts
		}
		t, err := find(ts, br.heading)
		if err != nil {
			return "", fmt.Errorf("%s: %w", br.file, err)
		}
		ws, err := t.cell(br.row, br.wsio)
		if err != nil {
			return "", fmt.Errorf("%s: %w", br.file, err)
		}
		w, err := number(ws)
		if err != nil {
			return "", fmt.Errorf("%s: %w", br.file, err)
		}
		best, bestName, bestVal := "", "", 0.0
		for _, p := range br.peers {
			s, err := t.cell(br.row, p)
			if err != nil {
				return "", fmt.Errorf("%s: %w", br.file, err)
			}
			v, err := number(s)
			if err != nil {
				continue // a peer without a figure for this row
			}
			if bestName == "" || (br.lower && v < bestVal) || (!br.lower && v > bestVal) {
				best, bestName, bestVal = s, p, v
			}
		}
		if bestName == "" {
			return "", fmt.Errorf("%s: no peer figure in row %q", br.file, br.row)
		}
		raw := "–"
		if s, err := t.cell(br.row, "raw"); err == nil {
			raw = s
		}
		better := "higher is better"
		if br.lower {
			better = "lower is better"
		}
		rows = append(rows, []string{
			fmt.Sprintf("%s, %s (%s)", br.label, br.unit, better),
			ws, fmt.Sprintf("%s (%s)", best, bestName), ratio(w, bestVal), raw,
		})
	}
	return markdown([]string{"benchmark", "wsio", "best other Go library", "wsio ÷ best", "raw TCP"}, "lrrrr", rows), nil
}

func ratio(a, b float64) string {
	if b == 0 {
		return "–"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64)
}

// idleFigure is a figure of the first idle table of the benchmark report:
// the number of connections ("conns") or a library's RSS per connection.
func idleFigure(root, what string) (string, error) {
	md, err := read(root, benchReport)
	if err != nil {
		return "", err
	}
	t, err := find(parseTables(md), "Idle: server cost per connection with")
	if err != nil {
		return "", err
	}
	if what == "conns" {
		var n int
		if _, err := fmt.Sscanf(strings.TrimPrefix(t.heading, "Idle: server cost per connection with "), "%d", &n); err != nil {
			return "", fmt.Errorf("no connection count in %q", t.heading)
		}
		return thousands(n), nil
	}
	v, err := t.cell("RSS KiB/conn", what)
	if err != nil {
		return "", err
	}
	return v + " KiB", nil
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
