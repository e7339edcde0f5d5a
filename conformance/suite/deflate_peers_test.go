package suite

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// expectedDeflateAgainstWS is what Node's ws with permessage-deflate on earns
// on 12.* and 13.*: OK on every case, in both roles.
//
// As server, ws accepts the first offer it can, echoes the requested server
// parameters (server_no_context_takeover, server_max_window_bits=9/15) and
// keeps client_no_context_takeover from the offer. As client, ws offers
// "permessage-deflate; client_max_window_bits", so the suite's accept rules
// of 13.3–13.7 (client_max_window_bits=9/15) all find a fitting offer.
func expectedDeflateAgainstWS(cases []*Case) map[string]Outcome {
	want := map[string]Outcome{}
	for _, c := range cases {
		want[c.ID] = OK
	}
	return want
}

// logNegotiation logs, for the first case of each 12.x/13.x group, what was
// negotiated and how much of the traffic was compressed.
func logNegotiation(t *testing.T, results []*Result) {
	t.Helper()
	for _, r := range results {
		if strings.HasSuffix(r.ID, ".10") || strings.HasSuffix(r.ID, ".18") {
			t.Logf("%s %s: %s", r.ID, r.Outcome, strings.Join(r.Details, " / "))
		}
	}
}

func compressionCases(t *testing.T) []*Case {
	t.Helper()
	cases, err := SelectCases(true, []string{"12.*", "13.*"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != 90+126 {
		t.Fatalf("%d compression cases, want 216", len(cases))
	}
	return cases
}

func TestNodeWSServerDeflate(t *testing.T) {
	node := requireNodePeers(t)
	url := startNodeEchoServer(t, node, "--deflate")
	cases := compressionCases(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rep := &Report{Agent: "node-ws-deflate", Role: "client", Quick: true}
	rep.Results = RunClient(ctx, url, cases, RunOptions{Concurrency: 8})
	logSummary(t, rep)
	logNegotiation(t, rep.Results)
	if len(rep.Results) != len(cases) {
		t.Fatalf("got %d results for %d cases", len(rep.Results), len(cases))
	}
	checkOutcomes(t, rep.Results, expectedDeflateAgainstWS(cases))
}

func TestNodeWSClientDeflate(t *testing.T) {
	node := requireNodePeers(t)
	cases := compressionCases(t)
	base, reports := startFuzzServer(t, cases)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "ws-echo-client.js", base, "node-ws-deflate", "--deflate")
	cmd.Dir = nodeDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ws-echo-client.js: %v\n%s", err, out)
	}
	var rep *Report
	select {
	case rep = <-reports:
	case <-time.After(10 * time.Second):
		t.Fatalf("no report after the client finished; client output:\n%s", out)
	}
	logSummary(t, rep)
	logNegotiation(t, rep.Results)
	if len(rep.Results) != len(cases) {
		t.Fatalf("got %d results for %d cases", len(rep.Results), len(cases))
	}
	checkOutcomes(t, rep.Results, expectedDeflateAgainstWS(cases))
}
