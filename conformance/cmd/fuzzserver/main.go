// Command fuzzserver serves the conformance catalogue to WebSocket clients
// under test through Autobahn's fuzzingserver URL protocol (/getCaseCount,
// /runCase, /updateReports, ...). When a client calls /updateReports it
// writes the JSON and Markdown reports, prints the Markdown summary and, unless
// -keep-running is given, exits: with status 1 when a case FAILED (unless
// -allow-failures), 0 otherwise.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/wsio/wsio/conformance/suite"
)

func main() {
	os.Exit(run())
}

func run() int {
	addr := flag.String("addr", "127.0.0.1:9001", "listen address")
	cases := flag.String("cases", "", "comma-separated case patterns to serve, e.g. 1.*,2.* (default: all)")
	exclude := flag.String("exclude", "", "comma-separated case patterns to leave out, e.g. 9.*,12.*,13.*")
	quick := flag.Bool("quick", false, "divide the 9.* message sizes by 16 (CI mode)")
	out := flag.String("out", "", "report folder (default conformance/reports/server-<agent>)")
	allow := flag.Bool("allow-failures", false, "exit 0 even if cases FAILED")
	keep := flag.Bool("keep-running", false, "keep serving after /updateReports")
	flag.Parse()

	selected, err := suite.SelectCases(*quick, suite.ParseList(*cases), suite.ParseList(*exclude))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fuzzserver:", err)
		return 2
	}
	if len(selected) == 0 {
		fmt.Fprintln(os.Stderr, "fuzzserver: no case matches the filters")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	status := make(chan int, 1)
	fs := &suite.FuzzServer{Cases: selected, Quick: *quick, BaseContext: ctx}
	fs.OnReports = func(rep *suite.Report) {
		dir := *out
		if dir == "" {
			dir = suite.DefaultReportDir("", "server", rep.Agent)
		}
		code := 0
		if err := suite.WriteReports(dir, rep); err != nil {
			fmt.Fprintln(os.Stderr, "fuzzserver:", err)
			code = 2
		}
		fmt.Print(suite.Markdown(rep))
		fmt.Printf("\nReports written to %s\n", dir)
		if n := suite.CountFailed(rep.Results); n > 0 && !*allow && code == 0 {
			fmt.Fprintf(os.Stderr, "fuzzserver: %d case(s) FAILED\n", n)
			code = 1
		}
		if !*keep {
			select {
			case status <- code:
			default:
			}
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fuzzserver:", err)
		return 2
	}
	srv := &http.Server{Handler: fs, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "fuzzserver:", err)
			select {
			case status <- 2:
			default:
			}
		}
	}()
	fmt.Fprintf(os.Stderr, "fuzzserver: serving %d cases on ws://%s\n", len(selected), ln.Addr())
	code := 0
	select {
	case code = <-status:
	case <-ctx.Done():
		code = 130
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	return code
}
