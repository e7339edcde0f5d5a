//go:build !race

package main

// raceEnabled tells tests that the race detector is on; it makes
// sync.Pool drop some of what is put back, so allocation counts vary.
const raceEnabled = false
