package main

// The deflate benchmark: permessage-deflate (RFC 7692) on, for wsio,
// gorilla/websocket and coder/websocket only. Echo of ~1 KiB JSON text
// messages (256 different ones, cycled), and the server's memory per idle
// connection after one compressed message each way, against an
// uncompressed wsio baseline (wsio-plain).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"
	"github.com/wsio/wsio"
)

// deflateVariant is one column of the deflate tables: the library it
// belongs to (for -libs), the column label and the child's library name.
type deflateVariant struct {
	family, col string
	lib         *library
}

var deflateVariants = []deflateVariant{
	{"wsio", "wsio", wsioTextLib("wsio-deflate", &wsio.Compression{},
		"wsio.Compression{} on the server (context takeover both ways, level 1, 1 KiB threshold); default Dial (offers deflate)")},
	{"wsio", "wsio-nctx", wsioTextLib("wsio-nctx", &wsio.Compression{NoContextTakeover: true, PeerNoContextTakeover: true},
		"wsio.Compression{NoContextTakeover, PeerNoContextTakeover} on both sides")},
	{"gorilla", "gorilla", gorillaDeflateLib},
	{"coder", "coder", coderDeflateLib},
	{"wsio", "wsio-plain", wsioTextLib("wsio-plain", nil, "uncompressed baseline: no Compression on the server, Disabled on the client")},
}

// anyLib finds a library by its child-process name, deflate variants included.
func anyLib(name string) *library {
	if l := libByName(name); l != nil {
		return l
	}
	for _, l := range []*library{wsioHTTPLib, wsioEventsLib, wsioEventsHTTPLib, wsFloorLib, wsRawLib, wsioH1TLSLib, wsioH2Lib} {
		if name == l.name {
			return l
		}
	}
	for _, v := range deflateVariants {
		if v.lib.name == name {
			return v.lib
		}
	}
	return nil
}

// jsonMsgs are 256 different realistic JSON objects of 1024–1200 bytes
// (at least 1 KiB, so wsio's default threshold compresses them), from a
// fixed seed.
var jsonMsgs = makeJSONMsgs(256)

func makeJSONMsgs(n int) [][]byte {
	rng := rand.New(rand.NewPCG(0x77736970, 0x6465666c))
	words := strings.Fields("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november " +
		"oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu order shipped pending " +
		"refund invoice customer account balance update created deleted warehouse priority express standard")
	names := strings.Fields("Ada Grace Linus Ken Rob Barbara Donald Edsger Margaret Dennis Frances John Radia Whitfield")
	cities := strings.Fields("Berlin Lisbon Osaka Toronto Nairobi Lima Oslo Austin Dublin Seoul")
	sentence := func(k int) string {
		ws := make([]string, k)
		for i := range ws {
			ws[i] = words[rng.IntN(len(words))]
		}
		return strings.Join(ws, " ")
	}
	type item struct {
		SKU   string  `json:"sku"`
		Name  string  `json:"name"`
		Qty   int     `json:"qty"`
		Price float64 `json:"price"`
	}
	type user struct {
		ID    int64  `json:"id"`
		Name  string `json:"name"`
		Email string `json:"email"`
		City  string `json:"city"`
	}
	type event struct {
		ID        string            `json:"id"`
		Type      string            `json:"type"`
		Seq       int               `json:"seq"`
		Timestamp string            `json:"timestamp"`
		User      user              `json:"user"`
		Tags      []string          `json:"tags"`
		Message   string            `json:"message"`
		Meta      map[string]string `json:"meta"`
		Items     []item            `json:"items"`
	}
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	out := make([][]byte, 0, n)
	for i := 0; len(out) < n; i++ {
		name := names[rng.IntN(len(names))]
		e := event{
			ID:        fmt.Sprintf("evt_%016x", rng.Uint64()),
			Type:      []string{"order.created", "order.updated", "payment.captured", "shipment.sent"}[rng.IntN(4)],
			Seq:       1000 + i,
			Timestamp: base.Add(time.Duration(rng.IntN(1e6)) * time.Second).Format(time.RFC3339),
			User: user{ID: rng.Int64N(1e9), Name: name, City: cities[rng.IntN(len(cities))],
				Email: strings.ToLower(name) + strconv.Itoa(rng.IntN(1000)) + "@example.com"},
			Tags:    []string{words[rng.IntN(len(words))], words[rng.IntN(len(words))]},
			Message: sentence(8 + rng.IntN(12)),
			Meta: map[string]string{"region": cities[rng.IntN(len(cities))], "trace": fmt.Sprintf("%08x", rng.Uint32()),
				"client": "web/" + strconv.Itoa(rng.IntN(50))},
		}
		for {
			b, _ := json.Marshal(e)
			if len(b) >= 1024 {
				if len(b) <= 1200 {
					out = append(out, b)
				}
				break
			}
			e.Items = append(e.Items, item{SKU: fmt.Sprintf("SKU-%06d", rng.IntN(1e6)), Name: sentence(1 + rng.IntN(3)),
				Qty: 1 + rng.IntN(9), Price: float64(rng.IntN(100000)) / 100})
		}
	}
	return out
}

// ---- adapters: text messages ----

// extOK checks that the handshake's response agreed permessage-deflate
// exactly when want says so.
func extOK(h http.Header, want bool) error {
	got := strings.Contains(h.Get("Sec-WebSocket-Extensions"), "permessage-deflate")
	if got != want {
		return fmt.Errorf("permessage-deflate negotiated: %v, want %v (%q)", got, want, h.Get("Sec-WebSocket-Extensions"))
	}
	return nil
}

type wsioTextConn struct {
	*wsioConn
	sr strings.Reader
}

func (w *wsioTextConn) next() (io.Reader, error) {
	for {
		m, err := w.c.Next(context.Background())
		if err != nil {
			return nil, err
		}
		if m.Kind == wsio.Text {
			w.sr.Reset(m.Text)
			return &w.sr, nil
		}
	}
}

// write: SendText does not keep s, so p's bytes are lent to it uncopied.
func (w *wsioTextConn) write(p []byte) error {
	return w.c.SendText(context.Background(), unsafe.String(unsafe.SliceData(p), len(p)))
}

func wsioTextLib(name string, comp *wsio.Compression, notes string) *library {
	cliComp := comp
	if comp == nil {
		cliComp = &wsio.Compression{Disabled: true}
	} else if *comp == (wsio.Compression{}) {
		cliComp = nil // the default Dial, which offers deflate
	}
	return &library{
		name: name,
		// Server.Serve, as wsio runs in the main benchmark.
		serve: func(ln net.Listener, s *serverState) error {
			return wsio.NewServer(wsio.ServerOptions{Options: wsio.Options{Compression: comp}}, func(c *wsio.Conn) {
				serveConn(s, &wsioTextConn{wsioConn: &wsioConn{c: c}})
			}).Serve(ln)
		},
		dial: func(ctx context.Context, addr string) (cliConn, error) {
			c, resp, err := wsio.Dial(ctx, "ws://"+addr+"/", &wsio.DialOptions{
				Options: wsio.Options{Compression: cliComp}, NetDial: dialTCP})
			if err != nil {
				return nil, err
			}
			if err := extOK(resp.Header, comp != nil); err != nil {
				c.Transport().Close()
				return nil, err
			}
			return &wsioTextConn{wsioConn: &wsioConn{c: c, client: true}}, nil
		},
		notes: notes + "; Next (Message.Text); SendText",
	}
}

var gorillaDeflateUpgrader = gorilla.Upgrader{EnableCompression: true, CheckOrigin: func(*http.Request) bool { return true }}

type gorillaTextConn struct{ *gorillaConn }

func (g gorillaTextConn) next() (io.Reader, error) {
	for {
		t, r, err := g.c.NextReader()
		if err != nil {
			return nil, err
		}
		if t == gorilla.TextMessage {
			return r, nil
		}
	}
}

func (g gorillaTextConn) write(p []byte) error { return g.c.WriteMessage(gorilla.TextMessage, p) }

var gorillaDeflateLib = &library{
	name: "gorilla-deflate",
	handler: func(s *serverState) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := gorillaDeflateUpgrader.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			c.EnableWriteCompression(true)
			serveConn(s, gorillaTextConn{&gorillaConn{c: c}})
		})
	},
	dial: func(ctx context.Context, addr string) (cliConn, error) {
		d := gorilla.Dialer{NetDialContext: dialTCP, HandshakeTimeout: 10 * time.Second, EnableCompression: true}
		c, resp, err := d.DialContext(ctx, "ws://"+addr+"/", nil)
		if err != nil {
			return nil, err
		}
		if err := extOK(resp.Header, true); err != nil {
			c.Close()
			return nil, err
		}
		c.EnableWriteCompression(true)
		return gorillaTextConn{&gorillaConn{c: c, client: true}}, nil
	},
	notes: "Upgrader{EnableCompression: true} + EnableWriteCompression(true); Dialer{EnableCompression: true} " +
		"(gorilla negotiates no context takeover only); NextReader; WriteMessage(TextMessage)",
}

type coderTextConn struct{ *coderConn }

func (k coderTextConn) next() (io.Reader, error) {
	for {
		t, r, err := k.c.Reader(context.Background())
		if err != nil {
			return nil, err
		}
		if t == websocket.MessageText {
			return r, nil
		}
	}
}

func (k coderTextConn) write(p []byte) error {
	return k.c.Write(context.Background(), websocket.MessageText, p)
}

var coderDeflateLib = &library{
	name: "coder-deflate",
	handler: func(s *serverState) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true,
				CompressionMode: websocket.CompressionContextTakeover})
			if err != nil {
				return
			}
			c.SetReadLimit(-1)
			serveConn(s, coderTextConn{&coderConn{c: c}})
		})
	},
	dial: func(ctx context.Context, addr string) (cliConn, error) {
		c, resp, err := websocket.Dial(ctx, "ws://"+addr+"/", &websocket.DialOptions{HTTPClient: coderClient,
			CompressionMode: websocket.CompressionContextTakeover})
		if err != nil {
			return nil, err
		}
		if err := extOK(resp.Header, true); err != nil {
			c.CloseNow()
			return nil, err
		}
		c.SetReadLimit(-1)
		return coderTextConn{&coderConn{c: c, client: true}}, nil
	},
	notes: "ServerOptions / DialOptions{CompressionMode: CompressionContextTakeover}; Reader; Write(MessageText)",
}

// ---- client ----

// clientDeflateEcho is clientEcho over text messages cycling through
// jsonMsgs (each connection from its own offset).
func clientDeflateEcho(lib *library, addr string, nconns int, dur time.Duration) error {
	conns, err := dialEcho(lib, addr, nconns, func(i, j int) []byte { return jsonMsgs[(i*37+j)%len(jsonMsgs)] })
	if err != nil {
		return err
	}
	return timedEcho(conns, dur, func(i int, stop *atomic.Bool) (int64, error) {
		c := conns[i]
		bp := msgPool.Get().(*[]byte)
		defer msgPool.Put(bp)
		var n int64
		for j := i*37 + 3; !stop.Load(); j++ {
			if err := roundTrip(c, jsonMsgs[j%len(jsonMsgs)], bp); err != nil {
				return n, err
			}
			n++
		}
		return n, nil
	})
}

// ---- runner ----

func (r *runner) deflate() error {
	var vs []deflateVariant
	var cols []string
	for _, v := range deflateVariants {
		if slices.Contains(r.cfg.libs, v.family) {
			vs = append(vs, v)
			cols = append(cols, v.col)
		}
	}
	if len(vs) == 0 {
		return nil
	}
	var libNotes []string
	for _, v := range vs {
		libNotes = append(libNotes, fmt.Sprintf("%s: %s", v.col, v.lib.notes))
	}
	how := " Columns — " + strings.Join(libNotes, ". ") + "."
	rate := r.report.table("deflate", "permessage-deflate: echo round trips per second, ~1 KiB JSON text (higher is better)", "msg/s", true)
	rate.cols = cols
	rate.note = fmt.Sprintf("Compression on (wsio-plain: off). Each connection sends one text message (%d different JSON "+
		"objects of 1024–1200 bytes, cycled), waits for its echo, repeats, for %v per round.", len(jsonMsgs), r.cfg.echoDur) + how
	cpu := r.report.table("deflate", "permessage-deflate: CPU time per round trip, µs, client + server processes (lower is better)", "µs", false)
	cpu.cols = cols
	k := r.cfg.dIdle
	mem := r.report.table("deflate", fmt.Sprintf("permessage-deflate: server cost per idle connection with %d connections, "+
		"after one compressed message each way (lower is better)", k), "", false)
	mem.cols = cols
	mem.note = fmt.Sprintf("Each client connection echoes one ~1 KiB JSON text message, then all stay open and silent; "+
		"%v later the server's RSS and Go heap are read after runtime/debug.FreeOSMemory, "+
		"(value with K connections − value with none) / K. 'above wsio-plain' subtracts the uncompressed wsio figure "+
		"of the same round.", r.cfg.dWait)
	rowOf := func(conns int) string {
		c := "conns"
		if conns == 1 {
			c = "conn"
		}
		return fmt.Sprintf("%d %s × ~1 KiB JSON", conns, c)
	}
	for _, conns := range r.cfg.echoConns {
		rate.addRow(rowOf(conns))
		cpu.addRow(rowOf(conns))
	}
	memRows := []string{"RSS KiB/conn", "Go heap KiB/conn", "RSS KiB/conn above wsio-plain", "goroutines/conn"}
	for _, row := range memRows {
		mem.addRow(row)
	}
	for round := 1; round <= r.cfg.rounds; round++ {
		for _, conns := range r.cfg.echoConns {
			for _, v := range vs {
				if r.ctx.Err() != nil {
					return r.ctx.Err()
				}
				res, err := r.pair(v.lib.name, "decho", nil, []string{
					"-conns", strconv.Itoa(conns), "-dur", r.cfg.echoDur.String(),
				}, r.cfg.echoDur+2*time.Minute, false)
				if err != nil {
					r.fail("deflate echo "+rowOf(conns), v.col, err)
					continue
				}
				x := float64(res.Ops) / res.Secs
				rate.add(rowOf(conns), v.col, x)
				cpu.add(rowOf(conns), v.col, res.cpuUs(float64(res.Ops)))
				r.progress("deflate echo %s %s round %d: %.0f msg/s", rowOf(conns), v.col, round, x)
			}
		}
		rss := map[string]float64{}
		for _, v := range vs {
			if r.ctx.Err() != nil {
				return r.ctx.Err()
			}
			s0, s1, _, err := r.idleMeasure(v.lib.name, "didle", k, r.cfg.dWait)
			if err != nil {
				r.fail("deflate idle", v.col, err)
				continue
			}
			fk := float64(k)
			rss[v.col] = float64(s1.RSSKiB-s0.RSSKiB) / fk
			mem.add(memRows[0], v.col, rss[v.col])
			mem.add(memRows[1], v.col, (float64(s1.HeapInuse)-float64(s0.HeapInuse))/1024/fk)
			mem.add(memRows[3], v.col, float64(s1.Goroutines-s0.Goroutines)/fk)
			r.progress("deflate idle %s round %d: RSS %d→%d KiB, heap %d→%d", v.col, round,
				s0.RSSKiB, s1.RSSKiB, s0.HeapInuse, s1.HeapInuse)
		}
		if base, ok := rss["wsio-plain"]; ok {
			for _, v := range vs {
				if x, ok := rss[v.col]; ok && v.col != "wsio-plain" {
					mem.add(memRows[2], v.col, x-base)
				}
			}
		}
	}
	r.printTable(rate)
	r.printTable(cpu)
	r.printTable(mem)
	return nil
}
