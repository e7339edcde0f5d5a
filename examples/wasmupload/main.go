//go:build !js

// Command wasmupload uploads a file from a web page through wsio compiled
// to WebAssembly: the page runs a Go program (./client, built for js/wasm
// when this server starts) that sends the chosen file as one binary
// message with BeginBinary and io.Copy, showing its progress, and prints
// the server's reply. The server streams the message to a SHA-256 hash
// and answers with the size and hash.
//
//	go run ./examples/wasmupload              # then open http://127.0.0.1:8080
//	go run ./examples/wasmupload -addr 127.0.0.1:9000
//
// In a browser, BeginBinary buffers the message until Close (a browser's
// WebSocket sends only whole messages) up to Options.BufferCap, so the
// client sets BufferCap to the file's size.
package main

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/wsio/wsio"
)

//go:embed index.html
var indexHTML []byte

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	dir, err := os.MkdirTemp("", "wasmupload")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	wasm := filepath.Join(dir, "client.wasm")
	if err := buildClient(wasm); err != nil {
		log.Fatal(err)
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		log.Fatalf("go env GOROOT: %v", err)
	}
	wasmExec := filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js")

	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(indexHTML)
	})
	mux.HandleFunc("/wasm_exec.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, wasmExec) })
	mux.HandleFunc("/client.wasm", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, wasm) })
	mux.Handle("/upload", wsio.NewServer(wsio.ServerOptions{}, receive))
	log.Printf("open http://%s", *addr)
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

// buildClient builds ./client for js/wasm into out.
func buildClient(out string) error {
	src, err := clientDir()
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the wasm client: %v\n%s", err, msg)
	}
	return nil
}

// clientDir finds ./client beside this program's source: the working
// directory is the module root (go run ./examples/wasmupload) or this
// directory.
func clientDir() (string, error) {
	for _, d := range []string{filepath.Join("examples", "wasmupload", "client"), "client"} {
		if _, err := os.Stat(filepath.Join(d, "main.go")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("run this from the wsio module's root or from examples/wasmupload")
}

// receive reads each binary message through a SHA-256 hash, never holding
// it whole, and answers with its size and hash.
func receive(c *wsio.Conn) {
	ctx := context.Background()
	for {
		m, err := c.Next(ctx)
		if err != nil {
			return
		}
		if m.Kind != wsio.Binary {
			continue
		}
		h := sha256.New()
		n, err := io.Copy(h, m)
		if err != nil {
			return
		}
		log.Printf("received %d bytes", n)
		if err := c.SendText(ctx, fmt.Sprintf("the server received %d bytes, SHA-256 %s", n, hex.EncodeToString(h.Sum(nil)))); err != nil {
			return
		}
	}
}
