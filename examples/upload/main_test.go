package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/internal/wstest"
)

// peersDir holds the install script and playwright-core of the repository's
// browser interop tests, which this test shares.
var peersDir, _ = filepath.Abs(filepath.Join("..", "..", "conformance", "peers"))

// TestUploadInChromium uploads an 8 MiB file from the page in headless
// Chromium and checks the SHA-256 the page shows, the progress bars and the
// stored file.
func TestUploadInChromium(t *testing.T) {
	node, chromium := requireBrowser(t)

	dir := t.TempDir()
	var logs wstest.Buffer
	ts := httptest.NewServer(newHandler(dir, 1<<30, log.New(&logs, "server: ", 0)))
	defer func() {
		ts.Close()
		t.Log(logs.String())
	}()

	data := wstest.RandomBytes(8<<20, 1)
	file := filepath.Join(t.TempDir(), "random 8 MiB.bin")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])

	shotDir := os.Getenv("WSIO_SCREENSHOT_DIR")
	if shotDir == "" {
		shotDir = t.TempDir()
	}
	shot := filepath.Join(shotDir, "upload.png")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "drive.js"), ts.URL+"/", file, shot)
	cmd.Env = append(os.Environ(),
		"NODE_PATH="+filepath.Join(peersDir, "chromium", "node_modules"),
		"WSIO_CHROMIUM="+chromium)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("drive.js: %v\n%s", err, stderr.String())
	}
	var page struct {
		SHA256, Status, Browser string
		Sent, Stored            struct{ Value, Max float64 }
		Logs                    []string
	}
	if err := json.Unmarshal(out, &page); err != nil {
		t.Fatalf("drive.js printed %q: %v", out, err)
	}
	t.Logf("Chromium %s; page status %q; screenshot %s", page.Browser, page.Status, shot)
	for _, l := range page.Logs {
		t.Logf("page console: %s", l)
	}

	if page.SHA256 != want {
		t.Errorf("page shows SHA-256 %q, want %s", page.SHA256, want)
	}
	for name, bar := range map[string]struct{ Value, Max float64 }{"sent": page.Sent, "stored": page.Stored} {
		if bar.Max != float64(len(data)) || bar.Value != bar.Max {
			t.Errorf("%s progress bar at %v of %v, want %d of %d", name, bar.Value, bar.Max, len(data), len(data))
		}
	}

	// The server kept exactly one file, equal to the original.
	stored, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(stored) != 1 {
		t.Fatalf("upload dir holds %v (%v), want one file", stored, err)
	}
	got, err := os.ReadFile(stored[0])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("stored file %s (%d bytes) differs from the upload", stored[0], len(got))
	}
	if !strings.HasSuffix(stored[0], "-random_8_MiB.bin") {
		t.Errorf("stored file name %q does not end with the sanitized name", filepath.Base(stored[0]))
	}
}

// TestUploadProtocol drives the upload protocol with a Go client: a
// complete upload is stored with its SHA-256; an announced size over the
// server's maximum, or a slice past the announced size, gets an error
// reply and a 1008 close, and leaves no file.
func TestUploadProtocol(t *testing.T) {
	t.Parallel()
	data := wstest.RandomBytes(300, 2)
	sum := sha256.Sum256(data)
	for _, tc := range []struct {
		name   string
		size   int
		slices [][]byte
		want   string // the last reply's type
		msg    string // in an error reply's message
	}{
		{name: "complete", size: 300, slices: [][]byte{data[:100], data[100:]}, want: "done"},
		{name: "over the maximum", size: 2000, want: "error", msg: "larger than the 1000 bytes"},
		{name: "past the announced size", size: 10, slices: [][]byte{data}, want: "error", msg: "more than the announced 10 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ts := httptest.NewServer(newHandler(dir, 1000, log.New(io.Discard, "", 0)))
			defer ts.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, _, err := wsio.Dial(ctx, wstest.WSURL(ts.URL)+"/upload", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			start, _ := json.Marshal(map[string]any{"name": "f.bin", "size": tc.size})
			if err := c.SendText(ctx, string(start)); err != nil {
				t.Fatal(err)
			}
			// next returns the next reply, or a reply of type "closed" once
			// the server has closed the connection with 1008.
			next := func() reply {
				m, err := c.Next(ctx)
				var ce *wsio.CloseError
				if errors.As(err, &ce) && ce.Code == wsio.StatusPolicyViolation {
					return reply{Type: "closed"}
				}
				if err != nil {
					t.Fatalf("Next = %v, want a reply or a 1008 close", err)
				}
				var r reply
				if err := json.Unmarshal([]byte(m.Text), &r); err != nil {
					t.Fatalf("reply %q: %v", m.Text, err)
				}
				return r
			}
			var last reply
			for _, s := range tc.slices {
				if err := c.SendBinary(ctx, s); err != nil {
					t.Fatal(err)
				}
				if last = next(); last.Type != "ack" {
					break
				}
			}
			if tc.want == "done" {
				if err := c.SendText(ctx, "end"); err != nil {
					t.Fatal(err)
				}
			}
			if last.Type != "error" {
				last = next()
			}
			if last.Type != tc.want || !strings.Contains(last.Message, tc.msg) {
				t.Fatalf("last reply %+v, want type %q with %q", last, tc.want, tc.msg)
			}
			if last.Type == "error" {
				if r := next(); r.Type != "closed" {
					t.Fatalf("after the error reply: %+v, want a 1008 close", r)
				}
			}
			stored, _ := filepath.Glob(filepath.Join(dir, "*"))
			if tc.want != "done" {
				wstest.WaitUntil(t, "the partial file to go", func() bool {
					stored, _ = filepath.Glob(filepath.Join(dir, "*"))
					return len(stored) == 0
				})
				return
			}
			if last.SHA256 != hex.EncodeToString(sum[:]) || len(stored) != 1 {
				t.Fatalf("done with sha256 %s and files %v, want %x and one file", last.SHA256, stored, sum)
			}
			if b, err := os.ReadFile(stored[0]); err != nil || !bytes.Equal(b, data) {
				t.Fatalf("stored %d bytes (%v), want the %d sent", len(b), err, len(data))
			}
		})
	}
}

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{
		"photo.jpg":        "photo.jpg",
		"../../etc/passwd": "passwd",
		"..":               "upload",
		".bashrc":          "bashrc",
		"a b*c?.txt":       "a_b_c_.txt",
		"":                 "upload",
	} {
		if got := safeName(in); got != want {
			t.Errorf("safeName(%q) = %q, want %q", in, got, want)
		}
	}
}

// requireBrowser returns node and Chromium. The main module's tests
// install nothing (no root, no apt, no network beyond loopback), so when
// either, or playwright-core, is missing the test is skipped, saying what
// is missing; conformance/peers/install.sh installs them (test.sh runs it
// before the tests). WSIO_SKIP_PEERS=1 skips the test too.
func requireBrowser(t *testing.T) (node, chromium string) {
	t.Helper()
	if os.Getenv("WSIO_SKIP_PEERS") == "1" {
		t.Skip("WSIO_SKIP_PEERS=1: the headless Chromium upload test is skipped")
	}
	chromium = os.Getenv("WSIO_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	var err error
	if node, err = exec.LookPath("node"); err != nil {
		t.Skip("node (Node.js 20+) is missing; conformance/peers/install.sh lists what this test needs")
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("Chromium at %s (Debian package chromium) is missing; conformance/peers/install.sh installs it", chromium)
	}
	if _, err := os.Stat(filepath.Join(peersDir, "chromium", "node_modules", "playwright-core", "package.json")); err != nil {
		t.Skipf("playwright-core in %s is missing; conformance/peers/install.sh installs it",
			filepath.Join(peersDir, "chromium", "node_modules"))
	}
	return node, chromium
}
