//go:build !js

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsio/wsio"
)

// TestClientBuilds builds the page's Go program for js/wasm, as main does.
func TestClientBuilds(t *testing.T) {
	if err := buildClient(filepath.Join(t.TempDir(), "client.wasm")); err != nil {
		t.Fatal(err)
	}
}

// TestReceive uploads a message the way the page does and checks the
// server's answer.
func TestReceive(t *testing.T) {
	srv := httptest.NewServer(wsio.NewServer(wsio.ServerOptions{}, receive))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := wsio.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	data := []byte(strings.Repeat("wasm upload ", 100000))
	w, err := c.BeginBinary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	m, err := c.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if want := fmt.Sprintf("the server received %d bytes, SHA-256 %s", len(data), hex.EncodeToString(sum[:])); m.Text != want {
		t.Errorf("reply %q, want %q", m.Text, want)
	}
}
