// Command echoclient runs the wsio client against a fuzzing server (ours,
// cmd/fuzzserver, or Autobahn's): it runs every case, echoing each
// message, then asks the server to write its reports.
//
//	go run ./conformance/cmd/echoclient -url ws://127.0.0.1:9001 -agent wsio
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/wsio/wsio/conformance/agent"
)

func main() {
	base := flag.String("url", "ws://127.0.0.1:9001", "URL of the fuzzing server")
	name := flag.String("agent", "wsio", "agent name the reports are filed under")
	verbose := flag.Bool("v", false, "print each case as it ends")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := agent.RunFuzzingServer(ctx, *base, *name, func(n, total int, err error) {
		if *verbose {
			fmt.Fprintf(os.Stderr, "case %d/%d: %v\n", n, total, err)
		}
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "echoclient:", err)
		os.Exit(1)
	}
}
