// Package wsio is a streaming-first WebSocket package (RFC 6455).
//
// A text message arrives as one whole string; a binary message is a
// stream: an io.Reader on receive, and on send an io.WriteCloser whose
// writes are cut into frames of a fragment size (512 KiB by default). So a
// WebSocket plugs into the standard library's streaming code: io.Copy a
// file over it, pipe an upload through compress/gzip or crypto/sha256.
//
// # Server
//
// A Server is an http.Handler; mount it on any mux:
//
//	srv := wsio.NewServer(wsio.ServerOptions{Protocols: []string{"chat"}}, func(c *wsio.Conn) {
//		for {
//			m, err := c.Next(ctx) // the next message; control frames are handled inside
//			if err != nil {
//				return // a *wsio.CloseError once the connection is closed
//			}
//			switch m.Kind {
//			case wsio.Text:
//				c.SendText(ctx, strings.ToUpper(m.Text))
//			case wsio.Binary:
//				io.Copy(file, m) // streamed, never held whole
//			}
//		}
//	})
//	http.Handle("/chat", srv)
//
// For routing, authentication or refusing a request with a status of your
// own before the upgrade, call Accept from a plain handler instead.
// Server.ListenAndServe and Server.Serve skip net/http: the Server reads
// the upgrade itself (AcceptConn), which is cheaper per handshake and per
// connection. Server.Broadcast frames a message once and sends it to every
// connection; Server.Shutdown closes them all with 1001 and waits.
//
// # Event servers
//
// NewEventServer reads every connection for you and calls Events
// callbacks (Open, Text, Binary, Close), the way nodejs-websocket's server
// emits events. Between messages an idle connection on Linux waits in
// epoll with no goroutine, stack or buffer: about 4.4 KiB per idle
// connection in all, half of a goroutine-per-connection server.
//
//	srv := wsio.NewEventServer(wsio.ServerOptions{}, wsio.Events{
//		Text: func(c *wsio.Conn, s string) { c.SendText(ctx, s) },
//	})
//	log.Fatal(srv.ListenAndServe(":8080"))
//
// # Client
//
//	c, resp, err := wsio.Dial(ctx, "wss://example.com/upload", nil)
//	w, err := c.BeginBinary(ctx)
//	io.Copy(w, file) // frames of exactly the fragment size
//	w.Close()        // the final frame
//
// # Limits
//
// A connection buffers at most Options.BufferCap bytes (2 MiB by default)
// for one message; a text message larger than that closes the connection
// with 1009 as soon as a frame header declares it. Binary messages are
// streamed, so they are not capped unless Options.MaxBinaryMessage is set.
// Text is validated as UTF-8 as it arrives, failing fast with 1007.
//
// # Concurrency
//
// One goroutine reads (Next, and the Read of the binary message it
// returned); any number may send. Data messages never interleave: while a
// BeginBinary stream is open, other data sends fail with ErrStreamOpen,
// but pings, pongs and the close frame go between its fragments. Pings
// are answered from inside reads, so a connection needs a reader for
// keepalive and Ping to see pongs.
//
// # Errors
//
// A closed connection reports a *CloseError (code, reason, who closed),
// which matches ErrClosed with errors.Is; faults wrap ErrProtocol,
// ErrInvalidUTF8 or ErrMessageTooBig. Canceling a read's context leaves
// the connection usable. The context given to Next also governs the reads
// of the binary message it returns; Message.WithContext replaces it.
//
// # Layers
//
// limits holds the caps; textframe validates and assembles text; binstream
// cuts binary streams into frames; conn is the connection (frames,
// handshakes, control frames, close handshake); stream adapts a
// connection to net.Conn; this package is the front door.
package wsio
