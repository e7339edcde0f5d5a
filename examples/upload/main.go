// Command upload is a browser file upload over a WebSocket. It serves a page
// with a file picker; the page streams the chosen file to the server in
// 256 KiB slices, shows two progress bars (bytes that left the browser, and
// bytes the server has stored), and finally displays the file's SHA-256 as
// the server computed it while writing the file to disk.
//
//	go run ./examples/upload                    # then open http://127.0.0.1:8080
//	go run ./examples/upload -addr 127.0.0.1:9000 -dir /tmp/uploads -max 100
//
// A browser's WebSocket cannot send one message progressively (send takes
// a whole Blob or buffer), so a file of any size travels as a tiny protocol
// of several messages:
//
//	page → server   text   {"name":"photo.jpg","size":8388608}   start an upload
//	page → server   binary  the next slice of the file             (repeated)
//	server → page   text   {"type":"ack","received":N}            after each slice
//	page → server   text   "end"                                  all slices sent
//	server → page   text   {"type":"done","sha256":"…","size":N}  the file is stored
//	server → page   text   {"type":"error","message":"…"}         on failure, then close
//
// Each binary message is streamed from the socket into the file with
// io.Copy (through a SHA-256 hash on the way), so the server never holds
// more than a copy buffer of it, whatever the slice size. The page's
// announced size is checked against -max before anything is stored, and no
// more than that size reaches the disk.
package main

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/wsio/wsio"
)

//go:embed index.html
var indexHTML []byte

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	dir := flag.String("dir", "", "directory for uploaded files (default: a new temporary directory)")
	maxMiB := flag.Int64("max", 1024, "largest upload accepted, in MiB")
	flag.Parse()

	if *dir == "" {
		d, err := os.MkdirTemp("", "wsio-uploads-")
		if err != nil {
			log.Fatal(err)
		}
		*dir = d
	}
	log.Printf("storing uploads in %s", *dir)
	log.Printf("open http://%s/", *addr)
	srv := &http.Server{Addr: *addr, Handler: newHandler(*dir, *maxMiB<<20, log.Default())}
	log.Fatal(srv.ListenAndServe())
}

// maxSlice caps one binary message. The page sends 256 KiB slices; a peer
// sending a larger message is closed with 1009 by the library before the
// excess is read.
const maxSlice = 1 << 20

// newHandler returns the page at / and the upload WebSocket at /upload,
// which stores uploads of at most maxSize bytes in dir.
func newHandler(dir string, maxSize int64, logger *log.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(indexHTML)
	})
	// The WebSocket endpoint. The default origin check (same origin only)
	// is right here: only our own page may upload.
	mux.Handle("/upload", wsio.NewServer(wsio.ServerOptions{
		Options: wsio.Options{MaxBinaryMessage: maxSlice},
	}, func(c *wsio.Conn) {
		u := &upload{c: c, dir: dir, max: maxSize}
		err := u.run(context.Background())
		u.discard() // a no-op once the upload completed
		switch {
		case err == nil:
			logger.Printf("%v: stored %s (%d bytes, sha256 %s)", c.RemoteAddr(), u.path, u.received, u.sum)
		case errors.Is(err, wsio.ErrClosed):
			logger.Printf("%v: connection ended: %v", c.RemoteAddr(), err)
		default:
			logger.Printf("%v: upload failed: %v", c.RemoteAddr(), err)
			// Tell the page why, then close with "policy violation".
			u.send(context.Background(), reply{Type: "error", Message: err.Error()})
			c.Close(wsio.StatusPolicyViolation, "upload failed")
		}
	}))
	return mux
}

// upload is one connection's upload in progress.
type upload struct {
	c   *wsio.Conn
	dir string
	max int64 // the largest size a page may announce

	f        *os.File // nil until the start message
	h        hash.Hash
	size     int64 // as announced by the page
	received int64
	path     string
	sum      string
}

type start struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

type reply struct {
	Type     string `json:"type"` // "ack", "done" or "error"
	Received int64  `json:"received,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	Size     int64  `json:"size,omitempty"`
	Message  string `json:"message,omitempty"`
}

// run reads the upload's messages until the "end" message and answers it
// with the SHA-256. When the handler returns, the Server closes the
// connection with 1000.
func (u *upload) run(ctx context.Context) error {
	for {
		// Next returns each message in turn: text whole, binary as a stream.
		m, err := u.c.Next(ctx)
		if err != nil {
			return err // a *wsio.CloseError: the page went away
		}
		switch {
		case m.Kind == wsio.Text && u.f == nil:
			if err := u.begin(m.Text); err != nil {
				return err
			}
		case m.Kind == wsio.Binary && u.f != nil:
			// Stream the slice into the file and the hash at once. m is an
			// io.Reader over the message's frames. One byte past the
			// announced size is enough to refuse the upload, so no more
			// than that is read.
			n, err := io.Copy(io.MultiWriter(u.f, u.h), io.LimitReader(m, u.size-u.received+1))
			u.received += n
			if err != nil {
				return fmt.Errorf("receiving a slice: %w", err)
			}
			if u.received > u.size {
				return fmt.Errorf("got more than the announced %d bytes", u.size)
			}
			if err := u.send(ctx, reply{Type: "ack", Received: u.received}); err != nil {
				return err
			}
		case m.Kind == wsio.Text && m.Text == "end":
			if u.received != u.size {
				return fmt.Errorf("the upload ended after %d of %d bytes", u.received, u.size)
			}
			if err := u.f.Close(); err != nil {
				return err
			}
			u.f = nil // the file is complete: discard must keep it
			u.sum = hex.EncodeToString(u.h.Sum(nil))
			return u.send(ctx, reply{Type: "done", SHA256: u.sum, Size: u.received})
		default:
			return fmt.Errorf("unexpected %v message", m.Kind)
		}
	}
}

// begin opens the file for the upload the start message announces.
func (u *upload) begin(msg string) error {
	var s start
	if err := json.Unmarshal([]byte(msg), &s); err != nil {
		return fmt.Errorf("bad start message: %w", err)
	}
	if s.Size < 0 {
		return errors.New("bad start message: negative size")
	}
	if s.Size > u.max {
		return fmt.Errorf("the file is larger than the %d bytes this server takes", u.max)
	}
	f, err := os.CreateTemp(u.dir, "*-"+safeName(s.Name))
	if err != nil {
		return err
	}
	u.f, u.h, u.size, u.path = f, sha256.New(), s.Size, f.Name()
	return nil
}

// discard removes a partial file.
func (u *upload) discard() {
	if u.f != nil {
		u.f.Close()
		os.Remove(u.f.Name())
		u.f = nil
	}
}

func (u *upload) send(ctx context.Context, r reply) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return u.c.SendText(ctx, string(b))
}

// safeName keeps the letters, digits, dots, dashes and underscores of the
// base of name, so a client cannot choose where the file lands.
func safeName(name string) string {
	name = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, filepath.Base(name))
	name = strings.TrimLeft(name, ".")
	if name == "" {
		name = "upload"
	}
	if len(name) > 100 {
		name = name[len(name)-100:]
	}
	return name
}
