//go:build !unix && !js

package wsio_test

import "time"

// cpuNow cannot measure the process's CPU time off Unix; checks that use
// it are skipped.
func cpuNow() (time.Duration, bool) { return 0, false }
