// Command baseline is what a client program links before any WebSocket
// package: fmt, and net/http for the *http.Response that both wsio's and
// coder/websocket's Dial return. cmd/wasmsize reports its js/wasm size
// beside theirs, so the difference is each package's own share.
package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	var resp *http.Response
	if len(os.Args) > 2 {
		resp = &http.Response{Status: os.Args[2]}
	}
	fmt.Println(os.Args[0], resp != nil)
}
