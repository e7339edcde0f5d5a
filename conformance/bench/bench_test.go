package main

import (
	"bytes"
	"context"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsio/wsio/conformance/internal/proc"
)

// TestMain lets the test binary stand in for the bench binary: run
// re-executes os.Executable() with childEnv set for its server and client
// processes.
func TestMain(m *testing.M) {
	if proc.IsChild(childEnv) {
		os.Exit(childMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// TestQuick is a smoke test: the -quick configuration, one short round
// of every benchmark (deflate and h2 included, with 50 idle connections;
// latency with its pinned parts) for
// every library, must produce every table with a nonzero figure for every
// library (or, in the deflate tables, every column; the code step's
// allocation tables may hold 0). No timing is asserted.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts client and server processes; skipped with -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("measures memory through /proc and binds 127.0.0.x source addresses")
	}
	md := filepath.Join(t.TempDir(), "results.md")
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	rep, err := run(ctx, []string{"-quick", "-pin", "-md", md}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	libs := []string{"wsio", "gorilla", "coder", "gws", "gobwas", "raw"}
	for _, bench := range benchNames {
		tables := rep.Tables(bench)
		if len(tables) == 0 {
			t.Errorf("no %s table", bench)
		}
		for _, tb := range tables {
			if len(tb.rows) == 0 {
				t.Errorf("%s: no rows", tb.title)
			}
			cols := libs
			if tb.cols != nil {
				cols = tb.cols
			}
			for _, row := range tb.rows {
				for _, lib := range cols {
					if strings.HasSuffix(row, "above wsio-plain") && lib == "wsio-plain" {
						continue // the baseline itself
					}
					v, ok := tb.Median(row, lib)
					// An HTTP/1.1 client holds no goroutine per WebSocket, and a
					// busy machine's CPUs may never go idle during a round.
					idleCount := strings.Contains(tb.title, "CPU idle entries")
					// The code step's allocation tables hold 0 for a library
					// that allocates nothing per message.
					zeroOK := bench == "h2" && strings.HasPrefix(row, "client goroutines") || idleCount ||
						bench == "code" && strings.Contains(tb.title, "allocat")
					if !ok && idleCount && cpuIdleEntries() < 0 {
						continue // the system does not count them
					}
					if !ok || (v == 0 && !zeroOK) || math.IsNaN(v) || math.IsInf(v, 0) {
						t.Errorf("%s / %s / %s: got %v (measured: %v)", tb.title, row, lib, v, ok)
					}
				}
			}
		}
	}

	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	// Each table's header lists its columns (every library; the echo,
	// idle and handshake tables add wsio's variants), then the ratios.
	deflateHeader := "|  | wsio | wsio-nctx | gorilla | coder | wsio-plain | wsio/wsio-nctx |"
	nDeflate := len(rep.Tables("deflate"))
	got, want := 0, len(rep.tables)-nDeflate
	for _, bench := range benchNames {
		if bench == "deflate" {
			continue
		}
		for _, tb := range rep.Tables(bench) {
			cols := libs
			if tb.cols != nil {
				cols = tb.cols
			}
			header := "|  | " + strings.Join(cols, " | ") + " | wsio/" + cols[1] + " |"
			switch {
			case tb.bestOf != nil: // latency and code: the ratios to the best of gorilla and coder
				header = "|  | " + strings.Join(cols, " | ") +
					" | best | wsio/best | wsio-http/best | wsio-events/best | wsio-events-http/best |"
			case cols[0] != "wsio" || tb.noRatios: // no wsio column (h2) or no ratios (code's allocations)
				header = "|  | " + strings.Join(cols, " | ") + " |"
			}
			if strings.Contains(text, header) {
				got++
			}
		}
	}
	if got != want {
		t.Errorf("Markdown has %d table headers listing every library, want %d:\n%s", got, want, text)
	}
	if got := strings.Count(text, deflateHeader); got != nDeflate || nDeflate != 3 {
		t.Errorf("Markdown has %d deflate table headers, want %d (and 3 deflate tables):\n%s", got, nDeflate, text)
	}
	for _, want := range []string{"Command (from `conformance/`):", "-quick", "Machine:", runtime.Version(), "github.com/gorilla/websocket v",
		"one gorilla client for every server", "| 1 conn × 16 B, round 1 |", "| 1 conn × 1 KiB, round 1 |"} {
		if !strings.Contains(text, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	t.Logf("tables:\n%s", stdout.String())
}

func TestRoundRatios(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		samples map[string]map[string][]float64
		want    string
	}{
		{"paired", map[string]map[string][]float64{
			"a": {"wsio": {8, 9}, "raw": {10, 10}, "gorilla": {1, 1}},
			"b": {"wsio": {3}, "raw": {2}},
		}, "a: 0.80 0.90; b: 1.50"},
		{"a lost round is left out", map[string]map[string][]float64{
			"a": {"wsio": {8}, "raw": {10, 10}},
			"b": {"wsio": {1}, "raw": {4}},
		}, "b: 0.25"},
		{"zero raw sample", map[string]map[string][]float64{
			"a": {"wsio": {8, 1}, "raw": {0, 2}},
		}, "a: – 0.50"},
		{"no raw column", map[string]map[string][]float64{
			"a": {"wsio": {8}, "gorilla": {2}},
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tb := &table{rows: []string{"a", "b"}, samples: tt.samples}
			if got := tb.roundRatios("raw"); got != tt.want {
				t.Errorf("roundRatios(raw) = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRotated(t *testing.T) {
	t.Parallel()
	abcd := []string{"a", "b", "c", "d"}
	tests := []struct {
		libs  []string
		round int
		want  []string
	}{
		{abcd, 1, abcd},
		{abcd, 2, []string{"b", "c", "d", "a"}},
		{abcd, 3, []string{"c", "d", "a", "b"}},
		{abcd, 4, []string{"d", "a", "b", "c"}},
		{abcd, 5, abcd},
		{abcd, 6, []string{"b", "c", "d", "a"}},
		{[]string{"a"}, 3, []string{"a"}},
		{nil, 2, nil},
	}
	for _, tt := range tests {
		got := rotated(tt.libs, tt.round)
		if !slices.Equal(got, tt.want) {
			t.Errorf("rotated(%v, %d) = %v, want %v", tt.libs, tt.round, got, tt.want)
		}
	}
	// Every round measures every library once.
	for round := 1; round <= 9; round++ {
		got := rotated(abcd, round)
		slices.Sort(got)
		if !slices.Equal(got, abcd) {
			t.Errorf("round %d measures %v", round, got)
		}
	}
	if !slices.Equal(abcd, []string{"a", "b", "c", "d"}) {
		t.Errorf("rotated changed its argument: %v", abcd)
	}
}

// TestBestGrid checks the latency tables' ratio presentation: a "best"
// column naming the better of gorilla and coder per row, and each wsio
// server shape's median divided by that one's.
func TestBestGrid(t *testing.T) {
	t.Parallel()
	type s = map[string][]float64
	tests := []struct {
		name         string
		higherBetter bool
		cols         []string
		samples      map[string]s
		wantHead     string
		want         []string // the cells of each row, joined by " | "
	}{
		{
			name: "higher is better: the larger of gorilla and coder", higherBetter: true,
			cols: []string{"wsio", "wsio-http", "gorilla", "coder", "raw"},
			samples: map[string]s{
				"a": {"wsio": {100, 120, 110}, "wsio-http": {90}, "gorilla": {100}, "coder": {50}, "raw": {200}},
				"b": {"wsio": {100}, "wsio-http": {100}, "gorilla": {80}, "coder": {125}, "raw": {1}},
			},
			wantHead: " | wsio | wsio-http | gorilla | coder | raw | best | wsio/best | wsio-http/best",
			want: []string{
				"a | 110 | 90.0 | 100 | 50.0 | 200 | gorilla | 1.10 | 0.90",
				"b | 100 | 100 | 80.0 | 125 | 1.00 | coder | 0.80 | 0.80",
			},
		},
		{
			name: "lower is better: the smaller", higherBetter: false,
			cols: []string{"wsio", "wsio-events", "gorilla", "coder"},
			samples: map[string]s{
				"a": {"wsio": {10}, "wsio-events": {30}, "gorilla": {20}, "coder": {15}},
			},
			wantHead: " | wsio | wsio-events | gorilla | coder | best | wsio/best | wsio-events/best",
			want:     []string{"a | 10.0 | 30.0 | 20.0 | 15.0 | coder | 0.67 | 2.00"},
		},
		{
			name: "one reference measured, one shape failed", higherBetter: true,
			cols: []string{"wsio", "wsio-http", "gorilla", "coder"},
			samples: map[string]s{
				"a": {"wsio": {30}, "coder": {20}},
				"b": {"wsio": {30}, "wsio-http": {10}},
			},
			wantHead: " | wsio | wsio-http | gorilla | coder | best | wsio/best | wsio-http/best",
			want: []string{
				"a | 30.0 | – | – | 20.0 | coder | 1.50 | –",
				"b | 30.0 | 10.0 | – | – | – | – | –",
			},
		},
		{
			name: "a zero best", higherBetter: true,
			cols:     []string{"wsio", "gorilla"},
			samples:  map[string]s{"a": {"wsio": {3}, "gorilla": {0}}},
			wantHead: " | wsio | gorilla | best | wsio/best",
			want:     []string{"a | 3.00 | 0 | gorilla | –"},
		},
		{
			name: "neither gorilla nor coder in -libs: no ratios", higherBetter: true,
			cols:     []string{"wsio", "gws"},
			samples:  map[string]s{"a": {"wsio": {3}, "gws": {2}}},
			wantHead: " | wsio | gws",
			want:     []string{"a | 3.00 | 2.00"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tb := &table{higherBetter: tt.higherBetter, cols: tt.cols, bestOf: latencyBestOf, samples: map[string]map[string][]float64{}}
			for _, row := range []string{"a", "b"} {
				for lib, vs := range tt.samples[row] {
					for _, v := range vs {
						tb.add(row, lib, v)
					}
				}
			}
			head, cells := tb.grid(nil)
			if got := strings.Join(head, " | "); got != tt.wantHead {
				t.Errorf("head %q, want %q", got, tt.wantHead)
			}
			var got []string
			for _, line := range cells {
				got = append(got, strings.Join(line, " | "))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("cells:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestNoRatios checks a table with noRatios: its figures alone, without
// the wsio/x or x/best columns or the wsio/raw line.
func TestNoRatios(t *testing.T) {
	t.Parallel()
	tb := &table{title: "T", cols: []string{"wsio", "gorilla", "raw"}, noRatios: true, samples: map[string]map[string][]float64{}}
	tb.add("a", "wsio", 0.001)
	tb.add("a", "gorilla", 1)
	tb.add("a", "raw", 2)
	head, cells := tb.grid(nil)
	if got, want := strings.Join(head, " | "), " | wsio | gorilla | raw"; got != want {
		t.Errorf("head %q, want %q", got, want)
	}
	if len(cells) != 1 || strings.Join(cells[0], " | ") != "a | 0.001 | 1.00 | 2.00" {
		t.Errorf("cells %q", cells)
	}
	if text := tb.text(nil); strings.Contains(text, "wsio/raw") {
		t.Errorf("text has a ratio:\n%s", text)
	}
}

// TestRoundGrid checks the spread shown beside the medians: every round's
// figures, one line per row and round, with that round's own ratios, a
// failed measurement as "–", and both in the text and in the Markdown.
func TestRoundGrid(t *testing.T) {
	t.Parallel()
	tb := &table{title: "T", higherBetter: true, cols: []string{"wsio", "gorilla", "coder"}, bestOf: latencyBestOf,
		byRound: true, samples: map[string]map[string][]float64{}}
	for _, m := range []struct {
		row, lib string
		round    int
		v        float64
	}{
		// Added in a rotated order, as the runner does; coder failed in round 2.
		{"16 B", "wsio", 1, 100}, {"16 B", "gorilla", 1, 80}, {"16 B", "coder", 1, 90},
		{"16 B", "gorilla", 2, 120}, {"16 B", "wsio", 2, 60},
		{"16 B", "coder", 3, 100}, {"16 B", "wsio", 3, 110}, {"16 B", "gorilla", 3, 50},
		{"1 KiB", "wsio", 1, 5000}, {"1 KiB", "gorilla", 1, 4000}, {"1 KiB", "coder", 1, 2000},
	} {
		tb.addRound(m.row, m.lib, m.round, m.v)
	}
	head, cells := tb.roundGrid(nil)
	if got, want := strings.Join(head, " | "), " | wsio | gorilla | coder | best | wsio/best"; got != want {
		t.Errorf("head %q, want %q", got, want)
	}
	var got []string
	for _, line := range cells {
		got = append(got, strings.Join(line, " | "))
	}
	want := []string{
		"16 B, round 1 | 100 | 80.0 | 90.0 | coder | 1.11",
		"16 B, round 2 | 60.0 | 120 | – | gorilla | 0.50",
		"16 B, round 3 | 110 | 50.0 | 100 | coder | 1.10",
		"1 KiB, round 1 | 5,000 | 4,000 | 2,000 | gorilla | 1.25",
		"1 KiB, round 2 | – | – | – | – | –",
		"1 KiB, round 3 | – | – | – | – | –",
	}
	if !slices.Equal(got, want) {
		t.Errorf("round grid:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The medians: 16 B wsio 100, gorilla 80, coder 95 (of 90 and 100).
	_, cells = tb.grid(nil)
	if got, want := strings.Join(cells[0], " | "), "16 B | 100 | 80.0 | 95.0 | coder | 1.05"; got != want {
		t.Errorf("median line %q, want %q", got, want)
	}
	text, md := tb.text(nil), tb.markdown(nil)
	if !strings.Contains(text, "-- round by round") {
		t.Errorf("text lacks the round-by-round grid:\n%s", text)
	}
	for _, want := range want {
		fields := strings.Join(strings.Fields(strings.ReplaceAll(want, " | ", " ")), " ")
		found := false
		for _, line := range strings.Split(text, "\n") {
			found = found || strings.Join(strings.Fields(line), " ") == fields
		}
		if !found {
			t.Errorf("text lacks the line %q:\n%s", want, text)
		}
	}
	for _, want := range []string{"Round by round", "| 16 B, round 2 | 60.0 | 120 | – | gorilla | 0.50 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(text, "wsio/raw round by round") {
		t.Errorf("a bestOf table printed the wsio/raw round ratios:\n%s", text)
	}
}

// startServerHere runs lib's echo server in this process on a loopback
// port until the test ends, and returns its address.
func startServerHere(t *testing.T, lib *library) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	st := &serverState{mode: "echo", lib: lib}
	if lib.serve != nil {
		go lib.serve(ln, st)
		t.Cleanup(func() { ln.Close() })
	} else {
		hs := &http.Server{Handler: lib.handler(st), ReadHeaderTimeout: 10 * time.Second}
		go hs.Serve(ln)
		t.Cleanup(func() { hs.Close() })
	}
	return ln.Addr().String()
}

// TestWSRawClient checks that -client raw can drive every server of the
// latency tables: echoes of each frame-length encoding come back whole
// and equal, and the closing handshake completes.
func TestWSRawClient(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("binds 127.0.0.x source addresses")
	}
	for _, lib := range []*library{wsioLib, wsioHTTPLib, wsioEventsLib, wsioEventsHTTPLib, gorillaLib, coderLib, gwsLib, gobwasLib} {
		t.Run(lib.name, func(t *testing.T) {
			t.Parallel()
			addr := startServerHere(t, lib)
			c := dialWSRawFor(t, addr)
			buf := new([]byte)
			for _, n := range []int{1, 16, 125, 126, 1024, 65535, 65536, 100_000} {
				p := make([]byte, n)
				for i := range p {
					p[i] = byte(i*7 + n)
				}
				if err := roundTrip(c, p, buf); err != nil {
					t.Fatalf("%d B: %v", n, err)
				}
				if !bytes.Equal(*buf, p) {
					t.Fatalf("%d B: the echo differs from the message sent", n)
				}
			}
			if err := c.close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
}

// TestWSRawClientFrames has a gorilla server answer each message with a
// text message (to be skipped), then the echo fragmented with a ping
// between the fragments: the client must return the echo whole and
// answer the ping.
func TestWSRawClientFrames(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("binds 127.0.0.x source addresses")
	}
	var pongs atomic.Int32
	srv := &library{name: "frames", handler: func(*serverState) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := gorillaUpgrader.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			c.SetPongHandler(func(string) error { pongs.Add(1); return nil })
			for {
				_, p, err := c.ReadMessage()
				if err != nil {
					return
				}
				if c.WriteMessage(websocket.TextMessage, []byte("skip me")) != nil {
					return
				}
				mw, err := c.NextWriter(websocket.BinaryMessage)
				if err != nil {
					return
				}
				half := len(p) / 2
				// gorilla sends a frame each time its 4 KiB buffer fills,
				// so the ping lands between fragments.
				_, _ = mw.Write(p[:half])
				_ = c.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(5*time.Second))
				_, _ = mw.Write(p[half:])
				if mw.Close() != nil {
					return
				}
			}
		})
	}}
	addr := startServerHere(t, srv)
	c := dialWSRawFor(t, addr)
	buf := new([]byte)
	p := bytes.Repeat([]byte("0123456789"), 2000)
	for i := range 2 {
		if err := roundTrip(c, p, buf); err != nil {
			t.Fatalf("round trip %d: %v", i, err)
		}
		if !bytes.Equal(*buf, p) {
			t.Fatalf("round trip %d: the echo differs from the message sent", i)
		}
	}
	// The server read the first ping's pong before the second message.
	if pongs.Load() < 1 {
		t.Errorf("the server got %d pongs, want at least 1", pongs.Load())
	}
	if err := c.close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

// dialWSRawFor dials addr with the ws-raw client, every read and write of
// it bounded by 10 s.
func dialWSRawFor(t *testing.T, addr string) cliConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dialWSRaw(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	c.(*wsRawConn).c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}
