package wstest

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// module is what a goroutine's stack mentions when it runs code of the
// library, of its tests or of the conformance module: the function names
// of every package of the module start with it (the root package's as
// "github.com/wsio/wsio.", the others' as "github.com/wsio/wsio/...").
const module = "github.com/wsio/wsio"

// LeakWait is how long CheckLeaks gives goroutines to end after the
// tests: a connection that was closed at the end of a test may take a
// moment to unwind.
const LeakWait = 5 * time.Second

// AllStacks returns the stacks of all goroutines, however many there are,
// in the format of runtime.Stack: one stack per paragraph, the caller's
// first.
func AllStacks() string {
	for n := 1 << 16; ; n *= 2 {
		buf := make([]byte, n)
		if k := runtime.Stack(buf, true); k < n {
			return string(buf[:k])
		}
	}
}

// Goroutines counts the goroutines whose header line ("goroutine 7 [IO
// wait]:") contains state and whose stack contains every one of marks. An
// empty state matches every goroutine. It lets a test wait until a
// goroutine is blocked where it should be (state "[IO wait", "[select",
// "[chan receive"), or until goroutines are gone.
func Goroutines(state string, marks ...string) int {
	n := 0
	for _, g := range strings.Split(AllStacks(), "\n\n") {
		header, _, _ := strings.Cut(g, "\n")
		if !strings.Contains(header, state) {
			continue
		}
		found := true
		for _, m := range marks {
			found = found && strings.Contains(g, m)
		}
		if found {
			n++
		}
	}
	return n
}

// Leaks waits up to d for every goroutine that runs code of the module
// github.com/wsio/wsio (the library, its tests, the conformance module),
// other than the caller's, to end. It returns the stacks of those still
// running, separated by blank lines, or "" once there are none.
func Leaks(d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		var leaked []string
		// The first stack is the caller's (runtime.Stack puts it first).
		for i, g := range strings.Split(AllStacks(), "\n\n") {
			if i > 0 && strings.Contains(g, module) {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 || !time.Now().Before(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// CheckLeaks is the goroutine-leak check of a TestMain, given the code
// m.Run returned. When the tests passed (code 0) it waits up to LeakWait
// for the goroutines running module code to end; when some do not, it
// prints their stacks to standard error and returns 1. Otherwise it
// returns code: the goroutines of a failed run may be stuck by the
// failure itself, and their stacks would bury its report.
func CheckLeaks(code int) int {
	if code != 0 {
		return code
	}
	if leaked := Leaks(LeakWait); leaked != "" {
		fmt.Fprintf(os.Stderr, "goroutines leaked (still running %v after the tests):\n\n%s\n", LeakWait, leaked)
		return 1
	}
	return 0
}

// Main runs the tests of m, applies CheckLeaks to the result and exits
// with it. It is the whole TestMain of a package whose TestMain does
// nothing else; one that does more after the tests calls m.Run and
// CheckLeaks itself.
func Main(m *testing.M) {
	os.Exit(CheckLeaks(m.Run()))
}
