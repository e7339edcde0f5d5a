//go:build js

// Command client is the WebAssembly half of examples/wasmupload: it waits
// for a file to be chosen in the page, uploads it to /upload as one binary
// message through BeginBinary and io.Copy, showing the progress, and
// prints the server's answer.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall/js"

	"github.com/wsio/wsio"
)

var doc = js.Global().Get("document")

func byID(id string) js.Value { return doc.Call("getElementById", id) }

func main() {
	input := byID("file")
	files := make(chan js.Value)
	// A handler must not block the browser: it hands the file over.
	input.Set("onchange", js.FuncOf(func(js.Value, []js.Value) any {
		if list := input.Get("files"); list.Length() > 0 {
			go func() { files <- list.Index(0) }()
		}
		return nil
	}))
	input.Set("disabled", false)
	status("choose a file")
	for f := range files {
		input.Set("disabled", true)
		if err := upload(context.Background(), f); err != nil {
			status("failed: " + err.Error())
		}
		input.Set("disabled", false)
	}
}

func upload(ctx context.Context, file js.Value) error {
	size := int64(file.Get("size").Float())
	url := "ws://" + js.Global().Get("location").Get("host").String() + "/upload"
	// BeginBinary buffers the message in the browser up to BufferCap
	// (a browser sends only whole messages): make room for the file.
	c, _, err := wsio.Dial(ctx, url, &wsio.DialOptions{Options: wsio.Options{BufferCap: max(size, 1)}})
	if err != nil {
		return err
	}
	defer c.Close(wsio.StatusNormalClosure, "")
	w, err := c.BeginBinary(ctx)
	if err != nil {
		return err
	}
	name := file.Get("name").String()
	p := &progress{size: size, name: name}
	if _, err := io.Copy(w, io.TeeReader(&fileReader{file: file}, p)); err != nil {
		w.Close()
		return err
	}
	status(fmt.Sprintf("sending %s (%d bytes)…", name, size))
	if err := w.Close(); err != nil {
		return err
	}
	reply, err := c.Next(ctx)
	if err != nil {
		return err
	}
	status("done")
	byID("log").Set("textContent", name+": "+reply.Text)
	return nil
}

// fileReader reads a File (a Blob) in slices of 1 MiB.
type fileReader struct {
	file js.Value
	off  int64
}

func (r *fileReader) Read(p []byte) (int, error) {
	size := int64(r.file.Get("size").Float())
	if r.off >= size {
		return 0, io.EOF
	}
	end := min(r.off+int64(min(len(p), 1<<20)), size)
	buf, err := await(r.file.Call("slice", r.off, end).Call("arrayBuffer"))
	if err != nil {
		return 0, err
	}
	n := js.CopyBytesToGo(p, js.Global().Get("Uint8Array").New(buf))
	r.off += int64(n)
	return n, nil
}

// await waits for a JavaScript promise; the caller is not on the
// browser's event loop, so the promise can settle meanwhile.
func await(promise js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	ok := js.FuncOf(func(_ js.Value, args []js.Value) any { ch <- result{v: args[0]}; return nil })
	fail := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{err: errors.New(args[0].Call("toString").String())}
		return nil
	})
	defer ok.Release()
	defer fail.Release()
	promise.Call("then", ok, fail)
	r := <-ch
	return r.v, r.err
}

// progress counts the bytes handed to the message and shows them.
type progress struct {
	name       string
	size, done int64
}

func (p *progress) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	bar := byID("progress")
	bar.Set("max", max(p.size, 1))
	bar.Set("value", p.done)
	status(fmt.Sprintf("%s: %d of %d bytes", p.name, p.done, p.size))
	return len(b), nil
}

func status(s string) { byID("status").Set("textContent", s) }
