// Package wsio is a streaming-first WebSocket package (RFC 6455, with
// permessage-deflate from RFC 7692).
//
// A text message arrives as one whole string; a binary message is a
// stream: an io.Reader on receive, and on send an io.WriteCloser whose
// writes are cut into frames of a fragment size (512 KiB by default). So a
// WebSocket plugs into the standard library's streaming code: io.Copy a
// file over it, pipe an upload through compress/gzip or crypto/sha256,
// never holding a message whole.
//
// # Server
//
// A Server is an http.Handler; mount it on any mux:
//
//	srv := wsio.NewServer(wsio.ServerOptions{}, func(c *wsio.Conn) {
//		ctx := c.Request().Context()
//		for {
//			m, err := c.Next(ctx) // the next message; control frames are handled inside
//			if err != nil {
//				return // a *wsio.CloseError once the connection is closed
//			}
//			switch m.Kind {
//			case wsio.Text:
//				_ = c.SendText(ctx, strings.ToUpper(m.Text))
//			case wsio.Binary:
//				_, _ = io.Copy(file, m) // streamed, never held whole
//			}
//		}
//	})
//	http.Handle("/chat", srv)
//
// For routing, authentication or refusing a request with a status of your
// own before the upgrade, call Accept from a plain handler instead.
// Server.ListenAndServe and Server.Serve skip net/http: the Server reads
// the upgrade itself (AcceptConn), which is cheaper per handshake and per
// connection. Server.Broadcast frames a message once and sends it to
// every connection. Server.Shutdown closes them all with 1001 and waits;
// Server.Close ends everything at once, as http.Server.Close does.
//
// # Events
//
// NewEventServer reads every connection for you and calls Events
// callbacks (Open, Text, Binary, Close), the way nodejs-websocket's server
// emits events; ServeEvents does the same for one connection, from Accept
// or Dial. Between messages an idle connection over TCP on Linux waits in
// epoll with no goroutine, stack or read buffer of its own, which makes
// this the leanest way to hold many mostly idle connections.
//
// # Client
//
//	c, _, err := wsio.Dial(ctx, "wss://example.com/upload", nil)
//	if err != nil {
//		return err
//	}
//	w, err := c.BeginBinary(ctx)
//	if err != nil {
//		return err
//	}
//	if _, err := io.Copy(w, file); err != nil { // frames of exactly the fragment size
//		return err
//	}
//	if err := w.Close(); err != nil { // the final frame
//		return err
//	}
//	return c.Close(wsio.StatusNormalClosure, "")
//
// The stream package adapts a connection to a net.Conn (stream.NetConn),
// and upgraded connections to a net.Listener (stream.NewListener), so
// net/rpc, net/http or any byte protocol runs over WebSockets.
//
// # HTTP/2
//
// WebSockets also run as streams of an HTTP/2 connection (RFC 8441), as
// browsers open them when a page's origin speaks HTTP/2: Accept (and so a
// Server mounted on an http.Server over TLS or h2c) takes the extended
// CONNECT and Dial makes it with DialOptions.HTTP2, many connections
// sharing one TCP connection. net/http's HTTP/2 server offers extended
// CONNECT only in a process started with GODEBUG=http2xconnect=1 (see
// ExtendedConnectEnabled); without it, browsers and Dial use HTTP/1.1.
// The connection behaves the same over either protocol.
//
// # Contexts
//
// Every call that can block takes a context. A call whose context is
// already done returns the context's error and touches nothing: no byte
// is written and the connection stays open. A context that ends while a
// read waits makes it return the context's error and leaves the
// connection usable: a later read resumes where this one stopped (except
// inside a compressed message, whose inflater cannot resume: that ends
// the connection). The context given to Next also governs reads of the
// binary message it returned; Message.WithContext gives it another. A
// context that ends once part of a message
// has been written closes the connection (a message cannot be half
// sent); that error matches both the context's error and ErrClosed.
//
// # Closing
//
// Close runs the closing handshake; CloseNow drops the connection at once.
// Once a connection has ended, every call reports a *CloseError (matching
// ErrClosed) saying how: the code and reason, and whether the peer sent
// them. The peer's code and reason always reach the program: when the
// peer's close frame carries a code of its own (not an echo of this
// side's, nor 1000, nor empty), Close returns it and Err reports it, in
// whichever order the two close frames crossed; a message being sent
// fails with it once it has arrived, even with nobody reading on a plain
// TCP socket (over TLS a goroutine must be reading). Codes 1002, 1007 and 1009
// match ErrProtocol, ErrInvalidUTF8 and ErrMessageTooBig on both sides.
//
// # Limits
//
// A connection buffers at most Options.BufferCap bytes (2 MiB by default)
// for one message; a text message larger than that closes the connection
// with 1009 as soon as a frame header declares it. Binary messages are
// streamed, so they are not capped unless Options.MaxBinaryMessage is
// set; a program that reads binary messages whole (io.ReadAll) should set
// it. Text is validated as UTF-8 as it arrives, failing fast with 1007.
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
// # WebAssembly
//
// Built for js/wasm (GOOS=js GOARCH=wasm), the package is the client side
// over the browser's WebSocket, with the same names: Dial, Conn (Next,
// SendText, SendBinary, BeginBinary, Close, CloseNow, Done, Err,
// Subprotocol, SetValue, Value, the read and write deadlines), Message,
// BinaryWriter, CloseError and the sentinels; stream.NetConn works there
// too. What a browser cannot do is refused with an error matching
// errors.ErrUnsupported rather than ignored: DialOptions' Header,
// TLSConfig, NetDial and Proxy, Options.Compression, keepalive pings,
// Ping, and Close with a code other than 1000 or 3000–4999. A browser
// sends only whole messages, so BeginBinary buffers its message (in
// JavaScript memory, up to Options.BufferCap) and Close sends it. A
// message over the limits ends the connection with a *CloseError of code
// 1009 on this side, but the browser's close frame then carries no code.
//
// # Packages
//
// This package is the one a program imports (with stream for the net.Conn
// and net.Listener adapters). Under it, conn is the wire codec (frame
// headers and masking), textframe validates and assembles text, binstream
// cuts binary streams into frames, and limits holds the caps; each is
// public for code that builds its own message layer.
package wsio
