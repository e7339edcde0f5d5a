// Command readme writes the generated parts of the repository's Markdown:
// the reports that tests emit in a raw form, and the README's summary
// tables and figures, taken from the committed reports so that no number in
// the README is typed by hand. conformance/report.sh runs it; from the
// conformance folder:
//
//	go run ./cmd/readme interop -in interop.json -out reports/interop.md
//	go run ./cmd/readme hostile -in table.md -out reports/hostile.md
//	go run ./cmd/readme readme [-readme ../README.md] [-root ..] [-only NAME,...]
//	go run ./cmd/readme links FILE.md...
//
// interop turns the `go test -json` output of ./interop into a report;
// hostile puts a title and an introduction above the table the hostile
// tests write. readme replaces the text between marker comments in the
// README:
//
//	<!-- begin:NAME -->...<!-- end:NAME -->
//
// with the block NAME computed from the reports (see blocks). A block whose
// markers share a line is a figure inside a sentence and is replaced inline.
// links checks that every relative link in the given Markdown files names a
// file or folder that exists.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "interop":
		err = runInterop(args)
	case "hostile":
		err = runHostile(args)
	case "readme":
		err = runReadme(args)
	case "links":
		err = runLinks(args)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "readme:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: readme interop -in FILE -out FILE | hostile -in FILE -out FILE | readme [-readme FILE] [-root DIR] [-only NAME,...] | links FILE...")
	os.Exit(2)
}

func runInterop(args []string) error {
	fs := flag.NewFlagSet("interop", flag.ExitOnError)
	in := fs.String("in", "", "go test -json output of ./interop (default stdin)")
	out := fs.String("out", "reports/interop.md", "report to write")
	_ = fs.Parse(args)
	r, err := open(*in)
	if err != nil {
		return err
	}
	defer r.Close()
	md, err := interopMarkdown(r)
	if err != nil {
		return err
	}
	return os.WriteFile(*out, []byte(md), 0o644)
}

func runHostile(args []string) error {
	fs := flag.NewFlagSet("hostile", flag.ExitOnError)
	in := fs.String("in", "", "the table written by the hostile tests (WSIO_HOSTILE_REPORT)")
	out := fs.String("out", "reports/hostile.md", "report to write")
	_ = fs.Parse(args)
	if *in == "" {
		return errors.New("hostile: -in is required")
	}
	b, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	return os.WriteFile(*out, []byte(hostileMarkdown(string(b))), 0o644)
}

func runReadme(args []string) error {
	fs := flag.NewFlagSet("readme", flag.ExitOnError)
	readme := fs.String("readme", "../README.md", "file to update")
	root := fs.String("root", "..", "the repository root (report paths are relative to it)")
	only := fs.String("only", "", "comma-separated blocks to update (default: all)")
	_ = fs.Parse(args)
	want := map[string]bool{}
	for _, n := range strings.Split(*only, ",") {
		if n != "" {
			want[n] = true
		}
	}
	b, err := os.ReadFile(*readme)
	if err != nil {
		return err
	}
	text := string(b)
	for _, blk := range blocks {
		if len(want) > 0 && !want[blk.name] {
			continue
		}
		body, err := blk.make(*root)
		if err != nil {
			return fmt.Errorf("block %s: %w", blk.name, err)
		}
		if text, err = splice(text, blk.name, body); err != nil {
			return err
		}
	}
	return os.WriteFile(*readme, []byte(text), 0o644)
}

func open(name string) (io.ReadCloser, error) {
	if name == "" || name == "-" {
		return io.NopCloser(os.Stdin), nil
	}
	return os.Open(name)
}

// splice replaces what lies between NAME's markers with body: on lines of
// their own when the markers are on different lines, inline when they share
// one.
func splice(text, name, body string) (string, error) {
	begin, end := "<!-- begin:"+name+" -->", "<!-- end:"+name+" -->"
	i := strings.Index(text, begin)
	if i < 0 {
		return "", fmt.Errorf("marker %q not found", begin)
	}
	j := strings.Index(text[i:], end)
	if j < 0 {
		return "", fmt.Errorf("marker %q not found after %q", end, begin)
	}
	j += i
	inner := text[i+len(begin) : j]
	body = strings.TrimSpace(body)
	if !strings.Contains(inner, "\n") {
		if strings.Contains(body, "\n") {
			return "", fmt.Errorf("block %s is inline but its text has several lines", name)
		}
		return text[:i+len(begin)] + body + text[j:], nil
	}
	return text[:i+len(begin)] + "\n" + body + "\n" + text[j:], nil
}
