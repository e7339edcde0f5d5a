package suite

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// FuzzServer tests WebSocket clients. It is an http.Handler speaking the URL
// protocol of Autobahn's fuzzingserver, so any client written for Autobahn
// works with it:
//
//   - GET /getCaseCount: sends the number of cases as a text message, closes.
//   - GET /getCaseInfo?case=N: sends {"id": ..., "description": ...}, closes.
//   - GET /runCase?case=N&agent=A: runs case N (1-based, catalogue order)
//     with the suite as server: frames are sent unmasked and the client's
//     frames must be masked.
//   - GET /getCaseStatus?case=N&agent=A: sends {"behavior": ...} of the last
//     run of case N by agent A, closes.
//   - GET /updateReports?agent=A: hands A's report to OnReports, closes.
type FuzzServer struct {
	// Cases is the catalogue served, in order.
	Cases []*Case
	// Engine holds the timing and size limits; zero fields get defaults.
	Engine EngineConfig
	// Quick is copied into the reports.
	Quick bool
	// OnReports is called from /updateReports with the agent's report.
	OnReports func(rep *Report)
	// BaseContext, when set, bounds every case run.
	BaseContext context.Context

	inflight sync.WaitGroup

	mu      sync.Mutex
	results map[string]map[int]*Result
	started map[string]time.Time
}

// Results returns the agent's results so far, in catalogue order; cases not
// run are left out.
func (fs *FuzzServer) Results(agent string) []*Result {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var out []*Result
	for i := range fs.Cases {
		if r, ok := fs.results[agent][i]; ok {
			out = append(out, r)
		}
	}
	return out
}

// Report returns the agent's report.
func (fs *FuzzServer) Report(agent string) *Report {
	fs.mu.Lock()
	started := fs.started[agent]
	fs.mu.Unlock()
	return &Report{Agent: agent, Role: "server", Started: started, Quick: fs.Quick, Results: fs.Results(agent)}
}

func (fs *FuzzServer) store(agent string, i int, r *Result) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.results == nil {
		fs.results = map[string]map[int]*Result{}
		fs.started = map[string]time.Time{}
	}
	if fs.results[agent] == nil {
		fs.results[agent] = map[int]*Result{}
		fs.started[agent] = time.Now().UTC()
	}
	fs.results[agent][i] = r
}

func (fs *FuzzServer) caseIndex(r *http.Request) (int, bool) {
	n, err := strconv.Atoi(r.URL.Query().Get("case"))
	if err != nil || n < 1 || n > len(fs.Cases) {
		return 0, false
	}
	return n - 1, true
}

func agentOf(r *http.Request) string {
	if a := r.URL.Query().Get("agent"); a != "" {
		return a
	}
	return "client"
}

// ServeHTTP implements http.Handler.
func (fs *FuzzServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/getCaseCount":
		fs.control(w, r, strconv.Itoa(len(fs.Cases)))
	case "/getCaseInfo":
		i, ok := fs.caseIndex(r)
		if !ok {
			http.Error(w, "bad or missing case number", http.StatusBadRequest)
			return
		}
		js, _ := json.Marshal(map[string]string{"id": fs.Cases[i].ID, "description": fs.Cases[i].Description})
		fs.control(w, r, string(js))
	case "/getCaseStatus":
		i, ok := fs.caseIndex(r)
		if !ok {
			http.Error(w, "bad or missing case number", http.StatusBadRequest)
			return
		}
		fs.mu.Lock()
		res := fs.results[agentOf(r)][i]
		fs.mu.Unlock()
		behavior := "NOT RUN"
		if res != nil {
			behavior = string(res.Outcome)
		}
		js, _ := json.Marshal(map[string]string{"behavior": behavior})
		fs.control(w, r, string(js))
	case "/runCase":
		i, ok := fs.caseIndex(r)
		if !ok {
			http.Error(w, "bad or missing case number", http.StatusBadRequest)
			return
		}
		fs.inflight.Add(1)
		defer fs.inflight.Done()
		fs.runCase(w, r, i)
	case "/updateReports":
		agent := agentOf(r)
		conn, br, err := fs.engine().accept(w, r, "")
		if err != nil {
			return
		}
		fs.waitInflight(time.Minute)
		if fs.OnReports != nil {
			fs.OnReports(fs.Report(agent))
		}
		fs.closeControl(conn, br, nil)
	default:
		http.NotFound(w, r)
	}
}

// waitInflight waits, at most d, for case runs still being judged: a client
// may ask for the reports as soon as it has seen the last close frame.
func (fs *FuzzServer) waitInflight(d time.Duration) {
	done := make(chan struct{})
	go func() {
		fs.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
	}
}

func (fs *FuzzServer) engine() *EngineConfig {
	return (&RunOptions{Engine: fs.Engine}).engine()
}

func (fs *FuzzServer) runCase(w http.ResponseWriter, r *http.Request, i int) {
	c := fs.Cases[i]
	agent := agentOf(r)
	var (
		pmd      *deflateConfig
		declined string
		negErr   error
	)
	if c.Deflate != nil && !c.Unimplemented {
		pmd, declined, negErr = c.Deflate.negotiateServer(r.Header)
	}
	ext := ""
	if pmd != nil {
		ext = pmd.header
	}
	cfg := fs.engine()
	conn, br, err := cfg.accept(w, r, ext)
	if err != nil {
		fs.store(agent, i, Judge(c, &Observation{Err: err}, RoleServer))
		return
	}
	switch {
	case c.Unimplemented:
		fs.store(agent, i, unimplementedResult(c, ""))
		fs.closeControl(conn, br, nil)
		return
	case negErr != nil:
		// The invalid offer is declined (RFC 7692 section 5.1) and the
		// connection closed normally; the client is at fault.
		fs.store(agent, i, negotiationFailedResult(c, negErr.Error()))
		fs.closeControl(conn, br, nil)
		return
	case declined != "":
		fs.store(agent, i, unimplementedResult(c, declined+" The case was not run."))
		fs.closeControl(conn, br, nil)
		return
	}
	ctx := fs.BaseContext
	if ctx == nil {
		ctx = context.Background()
	}
	obs := runSession(ctx, conn, br, RoleServer, c, cfg, pmd)
	fs.store(agent, i, Judge(c, obs, RoleServer))
}

// control accepts a WebSocket, sends one text message and closes.
func (fs *FuzzServer) control(w http.ResponseWriter, r *http.Request, text string) {
	conn, br, err := fs.engine().accept(w, r, "")
	if err != nil {
		return
	}
	fs.closeControl(conn, br, []byte(text))
}

// closeControl optionally sends a text message, then performs a normal
// closing handshake (bounded to two seconds) and closes the connection.
func (fs *FuzzServer) closeControl(conn net.Conn, br *bufio.Reader, text []byte) {
	closeNormally(conn, br, false, text)
}

// closeNormally optionally sends a text message, then performs a normal
// closing handshake (bounded to two seconds) and closes the connection.
// masked is true in the client role.
func closeNormally(conn net.Conn, br *bufio.Reader, masked bool, text []byte) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	var out []byte
	if text != nil {
		out = AppendFrame(out, &WireFrame{Fin: true, Opcode: OpText, Payload: text, Masked: masked})
	}
	out = AppendFrame(out, &WireFrame{Fin: true, Opcode: OpClose, Payload: closePayload(1000), Masked: masked})
	if _, err := conn.Write(out); err != nil {
		return
	}
	for {
		f, err := ReadFrame(br, 1<<20)
		if err != nil || f.Opcode == OpClose {
			return
		}
	}
}
