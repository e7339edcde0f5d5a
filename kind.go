package wsio

import "context"

// Kind says whether a message is text or binary.
type Kind uint8

// The two kinds of data message.
const (
	Text   Kind = 1
	Binary Kind = 2
)

// String returns "text" or "binary".
func (k Kind) String() string {
	switch k {
	case Text:
		return "text"
	case Binary:
		return "binary"
	}
	return "unknown"
}

// Message is one received data message. A text message carries its whole
// content in Text. A binary message is a stream: Message is an io.Reader
// (and io.WriterTo) that reads the payload across all its frames and
// returns io.EOF at the end of the message; it is never buffered whole
// (except on js/wasm: see below).
//
// A binary message stays readable until the next call to Next (one whose
// ctx is not already done), which discards whatever was left unread: from
// that call on, every read of the message fails with ErrStaleMessage,
// whatever came after it (another message, nothing yet, the end of the
// connection), and never yields bytes of a later message. A message cut
// short by the peer closing, the connection breaking, or Close discarding
// its rest fails with an error matching io.ErrUnexpectedEOF and ErrClosed,
// never io.EOF. Reading a text message's stream returns io.EOF at once.
//
// The context passed to the Next call that returned a binary message
// governs its reads, as an http.Request's context governs its Body: when
// it ends, a read in progress returns an error matching its Err (with
// errors.Is), and later reads return ctx.Err() at once, consuming nothing.
// So a ctx canceled as soon as Next returns leaves the message unreadable:
// cancel it once the message has been read. WithContext gives the message
// another context, to read on under.
//
// On js/wasm the browser delivers a binary message whole; its payload
// stays in JavaScript memory and each Read copies the next bytes into the
// caller's buffer, so a Read never waits and is never cut short.
type Message struct {
	// Kind is Text or Binary.
	Kind Kind
	// Text is the message when Kind is Text.
	Text string

	// The fields below are set for a binary message only; both builds
	// read it through c, which owns the payload and checks seq. c is nil
	// for any other Message, text or zero, whose Read is io.EOF.
	c   *Conn
	ctx context.Context // governs the reads of a binary message; nil when it can never end
	seq uint64          // the Conn's msgSeq when Next returned the message
}

// WithContext returns a copy of m whose reads ctx governs instead of the
// context given to Next; the copy and m read the same stream, so reading
// the copy resumes where a read of m stopped. Use it to go on reading a
// binary message after Next's context ended, or to bound its reads more
// tightly. It panics if ctx is nil, as http.Request.WithContext does.
func (m Message) WithContext(ctx context.Context) Message {
	if ctx == nil {
		panic("websocket: nil Context")
	}
	m.ctx = endable(ctx)
	return m
}

// endable returns ctx, or nil when ctx can never end (its Done channel is
// nil, as context.Background's is), so that reads under such a context
// cost no calls on it.
func endable(ctx context.Context) context.Context {
	if ctx.Done() == nil {
		return nil
	}
	return ctx
}

// Read reads the next bytes of a binary message. It blocks until at
// least one byte is available, the message ends (io.EOF), the connection
// fails, the connection's read deadline passes (an error wrapping
// os.ErrDeadlineExceeded) or the message's context ends (an error
// matching its Err). A context already done makes Read return its Err at
// once, consuming nothing.
//
// A read that the context or the read deadline interrupted leaves the
// message where it stopped, when the stream supports deadlines (a
// net.Conn, as from Dial and Accept): a later Read (through WithContext
// once the context has ended) resumes exactly there, and the rest of the
// message is intact. Inside a compressed message (permessage-deflate) an
// interrupted read cannot be resumed: it ends the connection, and the
// error also matches io.ErrUnexpectedEOF and ErrClosed. On a stream
// without deadlines, the context's end closes the connection.
//
// Once Next has been called again, Read fails with ErrStaleMessage. In a
// browser (js/wasm) the message has arrived whole, so Read never waits.
func (m Message) Read(p []byte) (int, error) {
	// One call, so that Read is inlined, also into the method wrapper an
	// io.Reader holding a Message calls: one frame less under every read.
	return m.c.readBinary(m.ctx, m.seq, p)
}
