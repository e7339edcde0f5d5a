package main

import (
	"os"
	"testing"
)

// TestQuickstart runs the README's program: it uploads the test binary
// and exits the process (failing the test) on any error. The upload lands
// in a temporary folder of the test.
func TestQuickstart(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	main()
	entries, err := os.ReadDir(os.Getenv("TMPDIR"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("%d files in the upload folder, want 1", len(entries))
	}
	info, err := entries[0].Info()
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Stat(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() != self.Size() {
		t.Errorf("saved %d bytes, the binary has %d", info.Size(), self.Size())
	}
}
