// Command fuzzclient runs the conformance catalogue as a WebSocket client
// against a server under test, writes JSON and Markdown reports and prints
// the Markdown summary. It exits with status 1 when a case FAILED (unless
// -allow-failures is given) and 2 on usage errors.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/wsio/wsio/conformance/suite"
)

func main() {
	os.Exit(run())
}

func run() int {
	url := flag.String("url", "ws://127.0.0.1:9001", "WebSocket URL of the server under test")
	agent := flag.String("agent", "server", "name of the implementation under test")
	cases := flag.String("cases", "", "comma-separated case patterns to run, e.g. 1.*,2.*,6.4.* (default: all)")
	exclude := flag.String("exclude", "", "comma-separated case patterns to skip, e.g. 9.*,12.*,13.*")
	quick := flag.Bool("quick", false, "divide the 9.* message sizes by 16 (CI mode)")
	parallel := flag.Int("parallel", 4, "number of independent cases run in parallel (9.* always runs alone)")
	out := flag.String("out", "", "report folder (default conformance/reports/client-<agent>)")
	allow := flag.Bool("allow-failures", false, "exit 0 even if cases FAILED")
	verbose := flag.Bool("v", false, "print each result as it arrives")
	flag.Parse()

	selected, err := suite.SelectCases(*quick, suite.ParseList(*cases), suite.ParseList(*exclude))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fuzzclient:", err)
		return 2
	}
	if len(selected) == 0 {
		fmt.Fprintln(os.Stderr, "fuzzclient: no case matches the filters")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	opts := suite.RunOptions{Concurrency: *parallel}
	if *verbose {
		opts.Progress = func(r *suite.Result) {
			fmt.Fprintf(os.Stderr, "%-8s %-13s %5d ms  %s\n", r.ID, r.Outcome, r.DurationMS, r.Reason)
		}
	}
	rep := &suite.Report{Agent: *agent, Role: "client", Started: time.Now().UTC(), Quick: *quick}
	rep.Results = suite.RunClient(ctx, *url, selected, opts)
	dir := *out
	if dir == "" {
		dir = suite.DefaultReportDir("", "client", *agent)
	}
	if err := suite.WriteReports(dir, rep); err != nil {
		fmt.Fprintln(os.Stderr, "fuzzclient:", err)
		return 2
	}
	fmt.Print(suite.Markdown(rep))
	fmt.Printf("\nReports written to %s\n", dir)
	if n := suite.CountFailed(rep.Results); n > 0 && !*allow {
		fmt.Fprintf(os.Stderr, "fuzzclient: %d case(s) FAILED\n", n)
		return 1
	}
	return 0
}
