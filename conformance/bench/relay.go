package main

// The relay benchmark: client → relay → sink. The relay is a server of
// the measured library that, for each client connection, dials the sink
// (a server of the same library) and forwards every message from the
// client to the sink and every answer from the sink back to the client,
// as streams, the way a WebSocket proxy is written with that library.
// Raw TCP's relay is io.Copy from socket to socket both ways (splice).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/lxzan/gws"
)

// relayLibs are the libraries the relay table compares.
var relayLibs = []string{"wsio", "gorilla", "gws", "gobwas", "raw"}

// relayConn is the relay's behaviour on one client connection c of a
// pull-style library: it dials the sink with the same library, then
// forwards a message from the client to the sink and the sink's answer
// back, until either side ends.
func relayConn(s *serverState, c srvConn) {
	sink, err := dialOne(s.lib, s.sink)
	if err != nil {
		return
	}
	defer sink.close()
	if rc, ok := c.(*rawConn); ok {
		rawRelay(rc, sink.(*rawConn))
		return
	}
	for {
		r, err := c.next()
		if err != nil {
			return
		}
		if err := sink.stream(r, -1); err != nil {
			return
		}
		back, err := sink.next()
		if err != nil {
			return
		}
		if err := c.stream(back, -1); err != nil {
			return
		}
	}
}

// rawRelay copies each socket to the other until either ends: io.Copy
// between two TCP connections, which splices inside the kernel.
func rawRelay(c, sink *rawConn) { tcpCopyBoth(c.c, sink.c) }

// tcpCopyBoth copies a to b and b to a until either ends, closing each
// destination when its source ends.
func tcpCopyBoth(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(b, a)
		_ = b.Close()
	}()
	_, _ = io.Copy(a, b)
	_ = a.Close()
	wg.Wait()
}

// tcpRelayCol is the relay table's column for a plain TCP relay (raw
// TCP's: io.Copy socket to socket) between wsio's client and sink: the
// WebSocket bytes pass through it untouched, so wsio's ratio to it is
// what a WebSocket relay adds over the TCP relay a proxy in TCP mode
// would be, with the same ends.
const tcpRelayCol = "tcp-relay"

// tcpRelayMode is the server mode of tcpRelayCol's relay.
const tcpRelayMode = "tcprelay"

// serveTCPRelay accepts connections on ln and joins each to a new TCP
// connection to sink (tcpCopyBoth), with no greeting or handshake of its
// own.
func serveTCPRelay(ln net.Listener, sink string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			s, err := dialTCP(ctx, "tcp", sink)
			if err != nil {
				_ = c.Close()
				return
			}
			tcpCopyBoth(c, s)
		}()
	}
}

// gwsRelay is gws's relay, as its callback API has it written: the
// client connection's OnOpen dials the sink, each whole message is
// written on to the other side, and either side's close closes the
// other.
type gwsRelay struct {
	gws.BuiltinEventHandler
	s *serverState
}

const gwsPeerKey = "peer"

func (h *gwsRelay) OnOpen(socket *gws.Conn) {
	back := &gwsRelayBack{client: socket}
	sink, _, err := gws.NewClient(back, &gws.ClientOption{
		Addr:                "ws://" + h.s.sink + "/",
		NewDialer:           func() (gws.Dialer, error) { return gwsDialer{}, nil },
		ReadMaxPayloadSize:  gwsMax(h.s.size),
		WriteMaxPayloadSize: gwsMax(h.s.size),
		HandshakeTimeout:    10 * time.Second,
	})
	if err != nil {
		_ = socket.WriteClose(1011, nil)
		return
	}
	socket.Session().Store(gwsPeerKey, sink)
	go sink.ReadLoop()
}

func (h *gwsRelay) OnMessage(socket *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	if v, ok := socket.Session().Load(gwsPeerKey); ok {
		_ = v.(*gws.Conn).WriteMessage(msg.Opcode, msg.Bytes())
	}
}

func (h *gwsRelay) OnClose(socket *gws.Conn, err error) {
	if v, ok := socket.Session().Load(gwsPeerKey); ok {
		_ = v.(*gws.Conn).WriteClose(1000, nil)
	}
}

// gwsRelayBack handles the relay's connection to the sink: the sink's
// messages go back to the client.
type gwsRelayBack struct {
	gws.BuiltinEventHandler
	client *gws.Conn
}

func (h *gwsRelayBack) OnMessage(_ *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	_ = h.client.WriteMessage(msg.Opcode, msg.Bytes())
}

func (h *gwsRelayBack) OnClose(*gws.Conn, error) { _ = h.client.WriteClose(1000, nil) }

// relay measures client → relay → sink for every library in relayLibs
// that -libs selects: one -bulk message each way (the bulk client: an
// upload the sink drains, then a download the sink streams), and echo
// round trips of 64 KiB over 64 connections.
func (r *runner) relay() error {
	if err := r.makeBulkFile(); err != nil {
		return err
	}
	var cols []string
	for _, l := range r.libs() {
		if slices.Contains(relayLibs, l) {
			cols = append(cols, l)
		}
	}
	if len(cols) == 0 {
		return nil
	}
	if slices.Contains(cols, "wsio") && slices.Contains(cols, rawLib.name) {
		cols = append(cols, tcpRelayCol)
	}
	size := r.cfg.bulkSize
	const conns, msg = 64, 64 << 10
	t := r.report.table("relay", "Relay: client → relay → sink, MB/s (higher is better) and the relay's CPU (lower is better)", "", true)
	t.note = fmt.Sprintf("The relay is a server of the library that dials the sink (a server of the same library) for each client "+
		"connection and forwards each message to the sink and the sink's answer back, as a stream where the library has one "+
		"(wsio: Next + BeginBinary + io.Copy; gorilla: NextReader + NextWriter + io.Copy; gobwas: wsutil.Reader + "+
		"wsutil.Writer + io.Copy; gws: OnMessage writes each whole message on; raw: io.Copy socket to socket both ways). "+
		"%s: raw's relay (io.Copy socket to socket) between wsio's client and sink, so the ends are wsio's and only the "+
		"relay differs: wsio/%s is what relaying WebSocket messages costs over relaying the TCP stream they travel in. "+
		"%s rows: one %s message client→relay→sink (the sink drains it and answers with its length), then "+
		"one sink→relay→client. %d × %s: %d connections echo %s messages through the relay for %v. "+
		"Relay CPU is the relay process's user + system time over the timed part per GiB relayed (both directions counted).",
		tcpRelayCol, tcpRelayCol, fmtSize(size), fmtSize(size), conns, fmtSize(msg), conns, fmtSize(msg), r.cfg.echoDur)
	bulkUp := fmt.Sprintf("1 × %s client→sink MB/s", fmtSize(size))
	bulkDown := fmt.Sprintf("1 × %s sink→client MB/s", fmtSize(size))
	bulkCPU := fmt.Sprintf("1 × %s relay CPU s/GiB", fmtSize(size))
	echoMB := fmt.Sprintf("%d × %s MB/s (one direction)", conns, fmtSize(msg))
	echoCPU := fmt.Sprintf("%d × %s relay CPU s/GiB", conns, fmtSize(msg))
	rows := []string{bulkUp, bulkDown, bulkCPU, echoMB, echoCPU}
	for _, row := range rows {
		t.addRow(row)
	}
	t.cols = cols
	t.lowerBetter = map[string]bool{bulkCPU: true, echoCPU: true}
	verify := strconv.FormatBool(r.cfg.verify)
	sizeArg := strconv.FormatInt(size, 10)
	bulkTimeout := 2*time.Minute + time.Duration(size/(5<<20))*time.Second
	for round := 1; round <= r.cfg.rounds; round++ {
		for _, lib := range cols {
			if r.ctx.Err() != nil {
				return r.ctx.Err()
			}
			res, err := r.relayPair(lib, "bulk",
				[]string{"-file", r.bulkFile, "-size", sizeArg, "-verify=" + verify},
				[]string{"-file", r.bulkFile, "-size", sizeArg, "-verify=" + verify,
					"-crc", strconv.FormatUint(uint64(r.bulkCRC), 10)},
				sizeArg, bulkTimeout)
			if err != nil {
				r.fail("relay bulk", lib, err)
			} else {
				t.add(bulkUp, lib, res.UpMBps)
				t.add(bulkDown, lib, res.DownMBs)
				t.add(bulkCPU, lib, float64(res.serverCPUNs)/1e9/(2*float64(size)/(1<<30)))
				r.progress("relay bulk %s round %d: up %.0f MB/s, down %.0f MB/s, relay CPU %.2fs", lib, round,
					res.UpMBps, res.DownMBs, float64(res.serverCPUNs)/1e9)
			}
			res, err = r.relayPair(lib, "echo", nil, []string{
				"-conns", strconv.Itoa(conns), "-size", strconv.Itoa(msg), "-dur", r.cfg.echoDur.String(),
			}, strconv.Itoa(msg), r.cfg.echoDur+2*time.Minute)
			if err != nil {
				r.fail("relay echo", lib, err)
				continue
			}
			moved := float64(res.Ops) * msg // each way
			t.add(echoMB, lib, moved/res.Secs/1e6)
			t.add(echoCPU, lib, float64(res.serverCPUNs)/1e9/(2*moved/(1<<30)))
			r.progress("relay echo %s round %d: %.0f msg/s", lib, round, float64(res.Ops)/res.Secs)
		}
	}
	r.printTable(t)
	return nil
}

// relayPair runs a sink server in mode (with sinkArgs), a relay in front
// of it and a client in mode talking to the relay; it returns the
// client's result with the relay's CPU time over the timed part. size is
// the largest message, for libraries that must be told (gws). lib
// tcpRelayCol runs wsio's sink and client around a plain TCP relay.
func (r *runner) relayPair(lib, mode string, sinkArgs, cliArgs []string, size string, timeout time.Duration) (pairResult, error) {
	var res pairResult
	ends, relayLib, relayMode := lib, lib, "relay"
	if lib == tcpRelayCol {
		ends, relayLib, relayMode = wsioLib.name, rawLib.name, tcpRelayMode
	}
	sink, sinkAddr, err := r.startServer(ends, mode, sinkArgs...)
	if err != nil {
		return res, err
	}
	defer sink.Stop()
	relay, addr, err := r.startServer(relayLib, relayMode, "-sink", sinkAddr, "-size", size)
	if err != nil {
		return res, err
	}
	defer relay.Stop()
	cli, err := r.startClient(ends, mode, addr, cliArgs...)
	if err != nil {
		return res, err
	}
	defer cli.Stop()
	if res, err = timedPair(relay, cli, timeout); err != nil {
		return res, err
	}
	if res.Ops == 0 && res.UpMBps == 0 {
		return res, errors.New("the client measured nothing")
	}
	return res, nil
}
