package wstest

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// RerunWithGODEBUG runs the test name (or the part of it that -run
// selects) again in a child process of the test binary whose GODEBUG has
// setting added, and fails t unless the child passes within limit. It is
// for settings the runtime or the standard library read only at start-up,
// such as http2xconnect=1, which lets net/http's HTTP/2 server take
// extended CONNECT requests (RFC 8441). The child's output is logged when
// it fails or under -v; -v and -short carry over.
func RerunWithGODEBUG(t *testing.T, name, setting string, limit time.Duration) {
	t.Helper()
	run := "^" + name + "$"
	if f := flag.Lookup("test.run"); f != nil {
		if v := f.Value.String(); strings.HasPrefix(v, name+"/") || strings.HasPrefix(v, run+"/") {
			run = v
		}
	}
	args := []string{"-test.run=" + run, "-test.count=1", "-test.timeout=" + limit.String()}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	godebug := os.Getenv("GODEBUG")
	if godebug != "" {
		godebug += ","
	}
	godebug += setting
	cmd.Env = append(os.Environ(), "GODEBUG="+godebug)
	out, err := cmd.CombinedOutput()
	if err != nil || testing.Verbose() {
		t.Logf("child process (GODEBUG=%s):\n%s", godebug, out)
	}
	if err != nil {
		t.Fatalf("%s in a child process with GODEBUG=%s: %v", name, godebug, err)
	}
	if !bytes.Contains(out, []byte("PASS")) {
		t.Fatalf("the child process did not report PASS")
	}
}
