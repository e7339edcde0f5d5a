package main

import (
	"os"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for the bench as its own child
// process, as main does.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(childMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func TestPayload(t *testing.T) {
	t.Parallel()
	for _, size := range []int{payloadHead, 64, 1000} {
		p := payload(42, 1_700_000_000_123_456_789, size)
		if len(p) != size {
			t.Errorf("size %d: payload is %d bytes", size, len(p))
		}
		seq, stamp, ok := parsePayload(string(p))
		if !ok || seq != 42 || stamp != 1_700_000_000_123_456_789 {
			t.Errorf("size %d: parsed %d, %d, %v", size, seq, stamp, ok)
		}
	}
	for _, bad := range []string{"", "warm-up", "00000001x0000000000000000001", "0000000a 0000000000000000001"} {
		if _, _, ok := parsePayload(bad); ok {
			t.Errorf("parsePayload(%q) ok", bad)
		}
	}
}

// TestRun runs each kind of setup small, in child processes, so the bench
// keeps working between the runs that make RESULTS.md.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ns, err := startNATS()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	cfg := config{exe: exe, natsURL: ns.ClientURL(), conns: 20, msgs: 5, size: 64, maxDur: time.Minute}
	for _, s := range []setup{
		{"broadcast", 1, 3, true},
		{"cluster", 2, 2, false},
	} {
		r, err := cfg.run(s)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if r.msgs != cfg.msgs || r.conns != s.clients*cfg.conns || r.p50 <= 0 || r.p99 < r.p50 || r.deliveredRate <= 0 {
			t.Errorf("%s: %+v", s.name, r)
		}
	}
}
