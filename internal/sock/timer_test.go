package sock

import (
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestTimer: a Timer runs its function once, not before its time, and
// in order with others; one NewTimer made runs only once Reset; Stop keeps a pending one from running and reports
// whether it was pending, as Reset does; a Reset moves a pending Timer's
// time; and once nothing is pending no goroutine waits for the timers.
func TestTimer(t *testing.T) {
	var mu sync.Mutex
	var ran []string
	done := make(chan string, 10)
	record := func(name string) func() {
		return func() {
			mu.Lock()
			ran = append(ran, name)
			mu.Unlock()
			done <- name
		}
	}
	start := time.Now()
	never := NewTimer(record("never"))
	if never.Stop() {
		t.Error("Stop of a Timer never set going reported true")
	}
	if NewTimer(record("late")).Reset(60 * time.Millisecond) {
		t.Error("the first Reset of a new Timer reported true")
	}
	early := AfterFunc(20*time.Millisecond, record("early"))
	stopped := AfterFunc(10*time.Millisecond, record("stopped"))
	moved := AfterFunc(5*time.Millisecond, record("moved"))
	if !stopped.Stop() {
		t.Error("Stop of a pending Timer reported false")
	}
	if stopped.Stop() {
		t.Error("a second Stop reported true")
	}
	if !moved.Reset(40 * time.Millisecond) {
		t.Error("Reset of a pending Timer reported false")
	}
	want := []struct {
		name string
		at   time.Duration
	}{{"early", 20 * time.Millisecond}, {"moved", 40 * time.Millisecond}, {"late", 60 * time.Millisecond}}
	for _, w := range want {
		select {
		case name := <-done:
			if elapsed := time.Since(start); name != w.name || elapsed < w.at {
				t.Fatalf("%q ran after %v, want %q after %v at least", name, elapsed, w.name, w.at)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%q did not run", w.name)
		}
	}
	select {
	case name := <-done:
		t.Fatalf("%q ran too", name)
	case <-time.After(50 * time.Millisecond):
	}
	if early.Stop() || early.Reset(time.Hour) {
		t.Error("Stop or Reset of a Timer that ran reported true")
	}
	if !early.Stop() {
		t.Error("Stop after Reset reported false")
	}
	deadline := time.Now().Add(5 * time.Second)
	for timerLoops() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("a goroutine still waits for the timers with none pending")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// timerLoops counts the goroutines waiting for the timers.
func timerLoops() int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "sock.(*timerState).loop")
}
