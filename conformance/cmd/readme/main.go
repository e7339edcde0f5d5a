// Command readme splices generated tables into README.md between marker
// comments, so the numbers there come from a run and are never typed:
//
//	<!-- begin:NAME -->
//	...replaced...
//	<!-- end:NAME -->
//
// Each -section NAME=FILE takes the first Markdown table in FILE (or all
// of FILE with -whole).
//
//	go run ./cmd/readme -readme ../README.md -section conformance-server=reports/client-wsio/index.md
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

type sections []string

func (s *sections) String() string     { return strings.Join(*s, ",") }
func (s *sections) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	readme := flag.String("readme", "README.md", "file to update")
	var secs sections
	flag.Var(&secs, "section", "NAME=FILE: replace the NAME block with the first table of FILE (repeatable)")
	whole := flag.Bool("whole", false, "splice whole files instead of their first table")
	demote := flag.Int("demote", 0, "with -whole, push Markdown headings down this many levels")
	flag.Parse()
	b, err := os.ReadFile(*readme)
	if err != nil {
		fail(err)
	}
	text := string(b)
	for _, s := range secs {
		name, file, ok := strings.Cut(s, "=")
		if !ok {
			fail(fmt.Errorf("bad -section %q", s))
		}
		src, err := os.ReadFile(file)
		if err != nil {
			fail(err)
		}
		body := string(src)
		if !*whole {
			body = firstTable(body)
		} else if *demote > 0 {
			body = demoteHeadings(body, *demote)
		}
		if text, err = splice(text, name, strings.TrimSpace(body)); err != nil {
			fail(err)
		}
	}
	if err := os.WriteFile(*readme, []byte(text), 0o644); err != nil {
		fail(err)
	}
}

func demoteHeadings(s string, n int) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "#") {
			lines[i] = strings.Repeat("#", n) + l
		}
	}
	return strings.Join(lines, "\n")
}

func firstTable(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "|") {
			out = append(out, l)
		} else if len(out) > 0 {
			break
		}
	}
	return strings.Join(out, "\n")
}

func splice(text, name, body string) (string, error) {
	begin, end := "<!-- begin:"+name+" -->", "<!-- end:"+name+" -->"
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i < 0 || j < i {
		return "", fmt.Errorf("markers for %q not found", name)
	}
	return text[:i+len(begin)] + "\n" + body + "\n" + text[j:], nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "readme:", err)
	os.Exit(1)
}
