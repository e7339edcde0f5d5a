// Package sock is the socket layer under a WebSocket connection: what the
// connection does with a plain TCP or Unix socket's descriptor that a
// net.Conn cannot do. A *Socket, obtained once with Of, waits for data
// before it takes a read buffer, looks at what has arrived without
// consuming it, reads and writes without waiting, sends a file region
// with sendfile and a header flagged MSG_MORE, hands a socket's bytes to a
// file for splicing or to another TCP socket through a pipe (Relay), and
// parks the descriptor in a shared epoll set until it is readable.
// DeferAccept sets TCP_DEFER_ACCEPT on a listener. Timer is an AfterFunc
// whose pending timers wait on one timerfd instead of in the runtime's
// timer heap, for a connection's long timers (keepalive, the event
// server's wait between messages, a kept compressor's release).
//
// The package holds the read buffers too (GetBuffer, PutBuffer): a Read
// takes its buffer once data has arrived and hands it to the caller, who
// gives it back when done with it.
//
// Every operation on a connection is reached through its *Socket. A nil
// *Socket stands for a transport that is not a plain socket (TLS, pipes,
// HTTP/2 streams, wrappers), and every method may be called on it: it
// then does nothing and says so. Build tags stay inside this package:
// what a platform cannot do reports false or errors.ErrUnsupported there.
//
// It imports only the standard library.
package sock
