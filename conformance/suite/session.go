package suite

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"
)

// Role is the side of the connection the suite plays.
type Role int

// The roles. In both the suite is the "fuzzing" side that sends the case and
// judges the peer.
const (
	// RoleClient means the suite is the client and tests a server.
	RoleClient Role = iota
	// RoleServer means the suite is the server and tests a client.
	RoleServer
)

// String returns "client" or "server".
func (r Role) String() string {
	if r == RoleServer {
		return "server"
	}
	return "client"
}

// EngineConfig holds the timing and size limits of the engine and,
// optionally, the transport it runs its connections over.
type EngineConfig struct {
	// CloseTimeout is how long the suite waits for the peer's close frame
	// after sending its own (Autobahn's closeHandshakeTimeout).
	CloseTimeout time.Duration
	// DropTimeout is how long the suite, as client, waits for the server
	// to close the TCP connection after the closing handshake.
	DropTimeout time.Duration
	// MaxPayload is the largest frame payload accepted from the peer.
	MaxPayload int64
	// HandshakeTimeout bounds the opening handshake.
	HandshakeTimeout time.Duration
	// Dial, when set, opens the client side's connections instead of the
	// engine's own HTTP/1.1 handshake over TCP (for example a WebSocket
	// over an HTTP/2 stream); see DialFunc.
	Dial DialFunc
	// Accept, when set, takes the server side's requests instead of the
	// engine's own HTTP/1.1 handshake and hijack; see AcceptFunc.
	Accept AcceptFunc
}

// DialFunc opens a WebSocket to rawURL carrying the request headers in
// header (Sec-WebSocket-Version, and Sec-WebSocket-Extensions when the
// case offers permessage-deflate), and returns the byte stream after the
// opening handshake with the response's headers. The engine reads and
// writes raw frames on the stream and takes any read error (io.EOF
// included) as the peer closing the connection; Close is the engine
// dropping it. Deadlines are only hard bounds: when one passes the
// stream may simply be closed.
type DialFunc func(ctx context.Context, rawURL string, header http.Header) (net.Conn, http.Header, error)

// AcceptFunc answers a WebSocket opening request on the server side with
// the response headers in header (Sec-WebSocket-Extensions when one was
// negotiated), and returns the byte stream the engine then uses as
// DialFunc's. On failure it has answered the request with an error. The
// stream must stay usable until the handler that called it returns.
type AcceptFunc func(w http.ResponseWriter, r *http.Request, header http.Header) (net.Conn, error)

// DefaultEngineConfig returns Autobahn-like defaults.
func DefaultEngineConfig() EngineConfig {
	return EngineConfig{
		CloseTimeout:     time.Second,
		DropTimeout:      time.Second,
		MaxPayload:       64 << 20,
		HandshakeTimeout: 10 * time.Second,
	}
}

// Observation is what the suite saw while running a case.
type Observation struct {
	// Events are the messages, pings, pongs and timer tags, in order.
	Events []Event
	// ClosedByMe tells whether the suite started the closing handshake.
	ClosedByMe bool
	// CloseSent and CloseReceived tell which close frames were exchanged.
	CloseSent, CloseReceived bool
	// RemoteCloseCode is the peer's close code; HasRemoteCode is false when
	// the peer sent no close frame or an empty one.
	RemoteCloseCode int
	// HasRemoteCode tells whether RemoteCloseCode is meaningful.
	HasRemoteCode bool
	// RemoteCloseReason is the peer's close reason.
	RemoteCloseReason string
	// DroppedByMe tells whether the suite closed the TCP connection.
	DroppedByMe bool
	// PeerClosedTCP tells whether the peer closed the TCP connection.
	PeerClosedTCP bool
	// WasClean tells whether the closing handshake completed and the TCP
	// connection was closed by the server.
	WasClean bool
	// UncleanReason explains why WasClean is false.
	UncleanReason string
	// Violations lists protocol violations by the peer (for example an
	// unmasked client frame).
	Violations []string
	// TimedOut tells whether the case hit its hard time limit.
	TimedOut bool
	// Err is a setup error (such as a failed handshake).
	Err error
	// Duration is the time from the end of the opening handshake to the end
	// of the connection.
	Duration time.Duration
	// Extension describes the negotiated permessage-deflate configuration;
	// empty when none was negotiated.
	Extension string
	// Echo holds the statistics of an echo case (12.*, 13.*).
	Echo *EchoStats
}

// session runs one case over one connection.
type session struct {
	role Role
	conn net.Conn
	br   *bufio.Reader
	c    *Case
	cfg  *EngineConfig
	ctx  context.Context

	wmu sync.Mutex

	mu            sync.Mutex
	events        []Event
	messages      int
	changed       chan struct{}
	closeSent     bool
	closeRecv     bool
	closedByMe    bool
	droppedByMe   bool
	peerClosedTCP bool
	remoteCode    int
	hasRemoteCode bool
	remoteReason  []byte
	violations    []string
	uncleanReason string
	tcpDone       chan struct{}

	// message assembly, reader goroutine only
	inMsg         bool
	msgOp         Opcode
	msgBuf        []byte
	msgCompressed bool

	// permessage-deflate: pmd is nil when not negotiated; tx is used by
	// the script goroutine only, rx by the reader goroutine only.
	pmd *deflateConfig
	tx  *deflater
	rx  *inflater

	// echo, guarded by mu, checks the echoes of an EchoStep as they arrive
	// instead of recording them as events.
	echo *echoState
}

// runSession executes c over an established connection and returns what was
// observed. It never blocks longer than the case budget. pmd is the
// negotiated permessage-deflate configuration, or nil.
func runSession(ctx context.Context, conn net.Conn, br *bufio.Reader, role Role, c *Case, cfg *EngineConfig, pmd *deflateConfig) *Observation {
	limit := c.budget(cfg)
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	s := &session{
		role: role, conn: conn, br: br, c: c, cfg: cfg, ctx: ctx,
		changed: make(chan struct{}),
		tcpDone: make(chan struct{}),
		pmd:     pmd,
	}
	if pmd != nil {
		s.tx = newDeflater(pmd.txTakeover, pmd.txWindowBits)
		s.rx = newInflater(pmd.rxTakeover)
	}
	for _, st := range c.Steps {
		if es, ok := st.(EchoStep); ok {
			s.echo = &echoState{stats: EchoStats{Count: es.Count}, binary: es.Data.binary}
		}
	}
	_ = conn.SetDeadline(time.Now().Add(limit + time.Second))
	start := time.Now()
	go s.readLoop()

	timedOut := false
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.script()
	}()
	select {
	case <-done:
	case <-ctx.Done():
		timedOut = true
		s.drop()
		<-done
	}
	select {
	case <-s.tcpDone:
	case <-time.After(2 * time.Second):
		s.drop()
		<-s.tcpDone
	}
	obs := s.observation()
	obs.Duration = time.Since(start)
	obs.TimedOut = timedOut
	if pmd != nil {
		obs.Extension = pmd.String()
	}
	return obs
}

// script runs the steps and then the end action, and waits for the
// connection to finish.
func (s *session) script() {
	for _, st := range s.c.Steps {
		if !st.run(s) {
			break
		}
	}
	switch s.c.End.Kind {
	case EndClose:
		if s.sleep(s.c.End.After) && !s.tcpGone() {
			s.sendClose(closePayload(1000))
		}
	case EndKill:
		if s.sleep(s.c.End.After) && !s.tcpGone() {
			s.mu.Lock()
			sent := s.closeSent
			s.mu.Unlock()
			if !sent {
				s.sendClose(closePayload(1001))
			}
		}
	}
	// Wait for the connection to end: the peer's close reply, then the TCP
	// close, each bounded.
	select {
	case <-s.tcpDone:
		return
	case <-s.ctx.Done():
		return
	case <-time.After(s.cfg.CloseTimeout + s.cfg.DropTimeout + 500*time.Millisecond):
	}
	s.mu.Lock()
	if s.uncleanReason == "" {
		switch {
		case s.closeSent && !s.closeRecv:
			s.uncleanReason = "peer did not answer the close frame in time"
		case !s.closeSent && !s.closeRecv:
			s.uncleanReason = "connection still open at the end of the case"
		default:
			s.uncleanReason = "TCP connection was not closed in time"
		}
	}
	s.mu.Unlock()
	s.drop()
}

// sleep waits d; it returns false if the TCP connection ended or the case
// ran out of time first.
func (s *session) sleep(d time.Duration) bool {
	if d <= 0 {
		return !s.tcpGone()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.tcpDone:
		return false
	case <-s.ctx.Done():
		return false
	}
}

func (s *session) tcpGone() bool {
	select {
	case <-s.tcpDone:
		return true
	default:
		return false
	}
}

// isOpen reports whether no close frame was exchanged and TCP is up.
func (s *session) isOpen() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.closeSent && !s.closeRecv && !s.tcpGone()
}

// masks tells whether a frame sent with mode m carries a mask.
func (s *session) masks(m MaskMode) bool {
	byRole := s.role == RoleClient
	if m == MaskInverted {
		return !byRole
	}
	return byRole
}

// writeChunks writes data in chunks of chop bytes (all at once if chop is
// zero). Small chops get a short pause so that they reach the peer as
// separate TCP segments.
func (s *session) writeChunks(data []byte, chop int, sync bool) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if chop <= 0 {
		chop = len(data)
	}
	for off := 0; off < len(data); off += chop {
		end := min(off+chop, len(data))
		if _, err := s.conn.Write(data[off:end]); err != nil {
			return fmt.Errorf("writing to peer: %w", err)
		}
		if chop < 64 && end < len(data) {
			time.Sleep(100 * time.Microsecond)
		}
	}
	if sync {
		time.Sleep(time.Millisecond)
	}
	return nil
}

func (s *session) writeFrame(op Opcode, payload []byte) error {
	wf := WireFrame{Fin: true, Opcode: op, Payload: payload, Masked: s.masks(MaskByRole)}
	return s.writeChunks(AppendFrame(nil, &wf), 0, false)
}

// sendClose sends a close frame unless one was sent already. It marks the
// suite as the closing endpoint when the peer has not closed yet.
func (s *session) sendClose(payload []byte) {
	s.mu.Lock()
	if s.closeSent || s.tcpGone() {
		s.mu.Unlock()
		return
	}
	s.closeSent = true
	if !s.closeRecv {
		s.closedByMe = true
	}
	complete := s.closeRecv
	s.signalLocked()
	s.mu.Unlock()
	_ = s.writeFrame(OpClose, payload)
	if complete {
		s.handshakeComplete()
		return
	}
	go s.closeHandshakeTimer()
}

// closeHandshakeTimer drops the connection when the peer does not answer
// the suite's close frame within CloseTimeout (Autobahn's
// closeHandshakeTimeout).
func (s *session) closeHandshakeTimer() {
	deadline := time.Now().Add(s.cfg.CloseTimeout)
	for {
		s.mu.Lock()
		recv, ch := s.closeRecv, s.changed
		s.mu.Unlock()
		if recv {
			return
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			s.mu.Lock()
			if s.uncleanReason == "" {
				s.uncleanReason = "peer did not answer the close frame in time"
			}
			s.mu.Unlock()
			s.drop()
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-ch:
		case <-t.C:
		case <-s.tcpDone:
			t.Stop()
			return
		}
		t.Stop()
	}
}

// handshakeComplete is called once both close frames were exchanged: the
// server drops TCP at once, the client gives the server time to do so.
func (s *session) handshakeComplete() {
	if s.role == RoleServer {
		s.drop()
		return
	}
	go func() {
		t := time.NewTimer(s.cfg.DropTimeout)
		defer t.Stop()
		select {
		case <-s.tcpDone:
		case <-t.C:
			s.mu.Lock()
			if s.uncleanReason == "" {
				s.uncleanReason = "server did not close the TCP connection in time"
			}
			s.mu.Unlock()
			s.drop()
		}
	}()
}

// drop closes the TCP connection from the suite's side.
func (s *session) drop() {
	s.mu.Lock()
	if !s.tcpGone() && !s.peerClosedTCP {
		s.droppedByMe = true
	}
	s.mu.Unlock()
	_ = s.conn.Close()
}

func (s *session) signalLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *session) violation(format string, args ...any) {
	s.mu.Lock()
	if len(s.violations) < 20 {
		s.violations = append(s.violations, fmt.Sprintf(format, args...))
	}
	s.signalLocked()
	s.mu.Unlock()
}

// record appends an event and applies Autobahn's finishWhenDone rule: when
// the events match every expected sequence and the suite is expected to
// close, it closes.
func (s *session) record(e Event) {
	s.mu.Lock()
	s.events = append(s.events, e)
	if e.Kind == EventMessage {
		s.messages++
	}
	s.signalLocked()
	finish := len(s.c.Expect) > 0 && s.c.Close.ByMe && !s.c.SuppressClose
	for _, ex := range s.c.Expect {
		if !eventsEqual(s.events, ex.Events) {
			finish = false
			break
		}
	}
	if s.c.closeOnMessages > 0 && e.Kind == EventMessage && s.messages == s.c.closeOnMessages {
		finish = true
	}
	var code int
	if finish {
		code = 1000
		if len(s.c.Close.Codes) > 0 {
			code = s.c.Close.Codes[0]
		}
	}
	s.mu.Unlock()
	if finish {
		s.sendClose(closePayload(code))
	}
}

// waitMessages waits until n messages were received; false on timeout or
// connection end.
func (s *session) waitMessages(n int, deadline time.Time) bool {
	for {
		s.mu.Lock()
		got, ch := s.messages, s.changed
		s.mu.Unlock()
		if got >= n {
			return true
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return false
		}
		t := time.NewTimer(wait)
		select {
		case <-ch:
			t.Stop()
		case <-t.C:
			return false
		case <-s.tcpDone:
			t.Stop()
			s.mu.Lock()
			got = s.messages
			s.mu.Unlock()
			return got >= n
		case <-s.ctx.Done():
			t.Stop()
			return false
		}
	}
}

// readLoop reads and handles the peer's frames until the connection ends.
func (s *session) readLoop() {
	defer close(s.tcpDone)
	for {
		f, err := ReadFrame(s.br, s.cfg.MaxPayload)
		if err != nil {
			if errors.Is(err, ErrFrameTooLarge) {
				s.violation("peer frame too large: %v", err)
			}
			s.mu.Lock()
			if !s.droppedByMe {
				s.peerClosedTCP = true
			}
			s.mu.Unlock()
			_ = s.conn.Close()
			return
		}
		s.handleFrame(f)
	}
}

func (s *session) handleFrame(f *WireFrame) {
	if s.role == RoleServer && !f.Masked {
		s.violation("client sent an unmasked %s frame", f.Opcode)
	}
	if s.role == RoleClient && f.Masked {
		s.violation("server sent a masked %s frame", f.Opcode)
	}
	rsv := f.RSV
	if s.pmd != nil && rsv&4 != 0 {
		// RFC 7692 section 6: RSV1 marks the first frame of a compressed
		// message; it is never set on continuation or control frames.
		switch {
		case f.Opcode.IsControl():
			s.violation("peer set RSV1 on a %s frame; control frames are never compressed (RFC 7692 section 6.1)", f.Opcode)
		case f.Opcode == OpContinuation:
			s.violation("peer set RSV1 on a continuation frame; only the first frame of a compressed message has it (RFC 7692 section 6)")
		}
		rsv &^= 4
	}
	if rsv != 0 {
		s.violation("peer set RSV bits %d on a %s frame", f.RSV, f.Opcode)
	}
	if f.Opcode.IsReserved() {
		s.violation("peer sent reserved opcode %d", byte(f.Opcode))
		return
	}
	if f.Opcode.IsControl() && (!f.Fin || len(f.Payload) > 125) {
		s.violation("peer sent an invalid %s frame (fin=%v, %d bytes)", f.Opcode, f.Fin, len(f.Payload))
	}
	s.mu.Lock()
	closed := s.closeRecv
	s.mu.Unlock()
	if closed {
		s.violation("peer sent a %s frame after its close frame", f.Opcode)
		return
	}
	switch f.Opcode {
	case OpContinuation:
		if !s.inMsg {
			s.violation("peer sent a continuation frame with no message in progress")
			return
		}
		s.msgBuf = append(s.msgBuf, f.Payload...)
		if f.Fin {
			s.finishMessage()
		}
	case OpText, OpBinary:
		if s.inMsg {
			s.violation("peer started a new message inside a fragmented one")
		}
		s.inMsg, s.msgOp, s.msgBuf = true, f.Opcode, append([]byte(nil), f.Payload...)
		s.msgCompressed = s.pmd != nil && f.RSV&4 != 0
		if f.Fin {
			s.finishMessage()
		}
	case OpPing:
		s.record(Event{Kind: EventPing, Payload: f.Payload})
		s.mu.Lock()
		sent := s.closeSent
		s.mu.Unlock()
		if !sent {
			_ = s.writeFrame(OpPong, f.Payload)
		}
	case OpPong:
		s.record(Event{Kind: EventPong, Payload: f.Payload})
	case OpClose:
		s.handleClose(f.Payload)
	}
}

func (s *session) finishMessage() {
	payload, wire, compressed := s.msgBuf, len(s.msgBuf), s.msgCompressed
	s.inMsg, s.msgBuf, s.msgCompressed = false, nil, false
	if compressed {
		var err error
		payload, err = s.rx.inflate(payload, s.cfg.MaxPayload)
		if err != nil {
			s.violation("peer sent a compressed %s message that does not inflate: %v", s.msgOp, err)
			return
		}
	}
	e := Event{Kind: EventMessage, Payload: payload, Binary: s.msgOp == OpBinary}
	if s.echo != nil {
		s.checkEcho(e, wire, compressed)
		return
	}
	s.record(e)
}

// sendMessage sends one data message, compressed when permessage-deflate
// was negotiated (RSV1 on the first frame only) and fragmented into frames
// of fragSize payload bytes when fragSize is non-zero.
func (s *session) sendMessage(op Opcode, payload []byte, fragSize int) error {
	var rsv byte
	if s.tx != nil {
		payload = s.tx.compress(payload)
		rsv = 4
	}
	size := fragSize
	if size <= 0 || size > len(payload) {
		size = max(len(payload), 1)
	}
	var buf []byte
	for off := 0; ; off += size {
		end := min(off+size, len(payload))
		wf := WireFrame{Fin: end == len(payload), RSV: rsv, Opcode: op, Payload: payload[off:end], Masked: s.masks(MaskByRole)}
		buf = AppendFrame(buf, &wf)
		if wf.Fin {
			break
		}
		op, rsv = OpContinuation, 0
	}
	if s.echo != nil {
		s.mu.Lock()
		s.echo.stats.WireBytesOut += int64(len(payload))
		s.mu.Unlock()
	}
	return s.writeChunks(buf, 0, false)
}

func (s *session) handleClose(p []byte) {
	s.mu.Lock()
	s.closeRecv = true
	if len(p) >= 2 {
		s.hasRemoteCode = true
		s.remoteCode = int(binary.BigEndian.Uint16(p))
		s.remoteReason = append([]byte(nil), p[2:]...)
	}
	needReply := !s.closeSent
	s.signalLocked()
	s.mu.Unlock()
	switch {
	case len(p) == 1:
		s.violation("peer sent a close frame with a 1-byte payload")
	case len(p) >= 2 && !utf8.Valid(p[2:]):
		s.violation("peer sent a close reason that is not valid UTF-8")
	}
	if !needReply {
		s.handshakeComplete()
		return
	}
	var reply []byte
	if len(p) >= 2 {
		reply = p[:2]
	}
	s.sendClose(reply)
}

func (s *session) observation() *Observation {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &Observation{
		Events:            s.events,
		ClosedByMe:        s.closedByMe,
		CloseSent:         s.closeSent,
		CloseReceived:     s.closeRecv,
		RemoteCloseCode:   s.remoteCode,
		HasRemoteCode:     s.hasRemoteCode,
		RemoteCloseReason: string(s.remoteReason),
		DroppedByMe:       s.droppedByMe,
		PeerClosedTCP:     s.peerClosedTCP,
		Violations:        s.violations,
		UncleanReason:     s.uncleanReason,
	}
	if s.echo != nil {
		st := s.echo.stats
		o.Echo = &st
	}
	o.WasClean = s.closeSent && s.closeRecv && s.uncleanReason == "" &&
		(s.role == RoleServer || s.peerClosedTCP)
	if !o.WasClean && o.UncleanReason == "" {
		switch {
		case !s.closeSent || !s.closeRecv:
			o.UncleanReason = "TCP connection was dropped without closing handshake"
		default:
			o.UncleanReason = "suite had to close the TCP connection"
		}
	}
	return o
}
