package main

import (
	"strings"
	"testing"
)

func TestSplice(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text, body, want string
	}{
		{"block", "a\n<!-- begin:x -->\nold\n<!-- end:x -->\nb", "| t |\n", "a\n<!-- begin:x -->\n| t |\n<!-- end:x -->\nb"},
		{"empty block", "<!-- begin:x -->\n<!-- end:x -->", "new", "<!-- begin:x -->\nnew\n<!-- end:x -->"},
		{"inline", "costs <!-- begin:x -->1 KiB<!-- end:x --> each", "2.72 KiB", "costs <!-- begin:x -->2.72 KiB<!-- end:x --> each"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := splice(tt.text, "x", tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := splice("<!-- begin:x --><!-- end:x -->", "x", "two\nlines"); err == nil {
		t.Error("a multi-line body spliced inline")
	}
	if _, err := splice("<!-- end:x --><!-- begin:x -->", "x", "b"); err == nil {
		t.Error("markers in the wrong order accepted")
	}
}

func TestParseTables(t *testing.T) {
	t.Parallel()
	md := "# Top\n\n## Echo (higher is better)\n\n| | a | b |\n|---|---:|---:|\n| **row** | 1,234 | x \\| y |\n\ntext\n"
	ts := parseTables(md)
	if len(ts) != 1 {
		t.Fatalf("%d tables, want 1", len(ts))
	}
	tb, err := find(ts, "Echo")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := tb.cell("row", "a"); err != nil || v != "1,234" {
		t.Errorf("cell a = %q, %v", v, err)
	}
	if v, err := tb.cell("row", "b"); err != nil || v != "x | y" {
		t.Errorf("cell b = %q, %v", v, err)
	}
	if v, err := tb.cell("row", "#1"); err != nil || v != "1,234" {
		t.Errorf("cell #1 = %q, %v", v, err)
	}
}

func TestInteropMarkdown(t *testing.T) {
	t.Parallel()
	events := `{"Action":"run","Test":"TestWS"}
{"Action":"run","Test":"TestWS/wsio-server"}
{"Action":"run","Test":"TestWS/wsio-server/text"}
{"Action":"pass","Test":"TestWS/wsio-server/text"}
{"Action":"run","Test":"TestWS/wsio-client"}
{"Action":"run","Test":"TestWS/wsio-client/text"}
{"Action":"fail","Test":"TestWS/wsio-client/text"}
{"Action":"fail","Test":"TestWS/wsio-client"}
{"Action":"pass","Test":"TestWS/wsio-server"}
{"Action":"fail","Test":"TestWS"}
{"Action":"run","Test":"TestBugX"}
{"Action":"skip","Test":"TestBugX"}
{"Action":"fail"}
`
	md, err := interopMarkdown(strings.NewReader(events))
	if err != nil {
		t.Fatal(err)
	}
	ts := parseTables(md)
	if len(ts) < 2 {
		t.Fatalf("%d tables in\n%s", len(ts), md)
	}
	for col, want := range map[string]string{"roles": "2", "checks": "2", "passed": "1", "failed": "1", "skipped": "0"} {
		if v, err := ts[0].cell("Node `ws`", col); err != nil || v != want {
			t.Errorf("summary %s = %q (%v), want %s", col, v, err, want)
		}
	}
	if v, err := ts[1].cell("text", "wsio-client"); err != nil || v != "FAIL" {
		t.Errorf("text/wsio-client = %q (%v), want FAIL", v, err)
	}
	if !strings.Contains(md, "package: **FAIL**") || !strings.Contains(md, "`TestBugX` | skip") {
		t.Errorf("package result or other tests missing:\n%s", md)
	}
}

// TestCommittedReports computes every README block from the reports
// committed in the tree, so a report whose format changed fails here
// rather than in report.sh.
func TestCommittedReports(t *testing.T) {
	t.Parallel()
	for _, b := range blocks {
		if _, err := b.make("../../.."); err != nil {
			t.Errorf("block %s: %v", b.name, err)
		}
	}
}
