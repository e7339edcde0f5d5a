package suite

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// RunOptions configures a run of the fuzzing client.
type RunOptions struct {
	// Concurrency is the number of independent cases run in parallel; heavy
	// cases (9.*) always run one at a time afterwards. Zero means 1.
	Concurrency int
	// Engine holds the engine's timing and size limits; the zero value
	// means DefaultEngineConfig.
	Engine EngineConfig
	// Progress, when set, is called after each case.
	Progress func(r *Result)
}

func (o *RunOptions) engine() *EngineConfig {
	cfg := o.Engine
	def := DefaultEngineConfig()
	if cfg.CloseTimeout == 0 {
		cfg.CloseTimeout = def.CloseTimeout
	}
	if cfg.DropTimeout == 0 {
		cfg.DropTimeout = def.DropTimeout
	}
	if cfg.MaxPayload == 0 {
		cfg.MaxPayload = def.MaxPayload
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = def.HandshakeTimeout
	}
	return &cfg
}

// RunCaseClient runs one case as the fuzzing client against the WebSocket
// server at url and returns the judged result.
func RunCaseClient(ctx context.Context, url string, c *Case, cfg *EngineConfig) *Result {
	if c.Unimplemented {
		return unimplementedResult(c, "")
	}
	offer := ""
	if c.Deflate != nil {
		offer = c.Deflate.offerHeader()
	}
	conn, br, hdr, err := cfg.dial(ctx, url, offer)
	if err != nil {
		return Judge(c, &Observation{Err: err}, RoleClient)
	}
	var pmd *deflateConfig
	if c.Deflate != nil {
		var declined bool
		pmd, declined, err = c.Deflate.negotiateClient(hdr)
		switch {
		case err != nil:
			// RFC 6455 section 9.1 / RFC 7692 section 5: the client
			// fails the connection on an invalid response.
			conn.Close()
			return negotiationFailedResult(c, err.Error())
		case declined:
			closeNormally(conn, br, true, nil)
			return unimplementedResult(c, "The server declined the permessage-deflate offer "+
				"(no Sec-WebSocket-Extensions in its response), so the case was not run.")
		}
	}
	obs := runSession(ctx, conn, br, RoleClient, c, cfg, pmd)
	return Judge(c, obs, RoleClient)
}

// RunClient runs the cases as the fuzzing client against the server at url.
// Results come back in catalogue order.
func RunClient(ctx context.Context, url string, cases []*Case, opts RunOptions) []*Result {
	cfg := opts.engine()
	results := make([]*Result, len(cases))
	var light, heavy []int
	for i, c := range cases {
		if c.Heavy {
			heavy = append(heavy, i)
		} else {
			light = append(light, i)
		}
	}
	var pmu sync.Mutex
	run := func(i int) {
		r := RunCaseClient(ctx, url, cases[i], cfg)
		results[i] = r
		if opts.Progress != nil {
			pmu.Lock()
			opts.Progress(r)
			pmu.Unlock()
		}
	}
	workers := max(opts.Concurrency, 1)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				run(i)
			}
		}()
	}
	for _, i := range light {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	for _, i := range heavy {
		run(i)
	}
	return results
}

// ParseList splits a comma-separated flag value into trimmed, non-empty items.
func ParseList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// SelectCases builds the catalogue and applies the include and exclude
// patterns.
func SelectCases(quick bool, include, exclude []string) ([]*Case, error) {
	cs, err := Filter(Catalogue(CatalogueOptions{Quick: quick}), include, exclude)
	if err != nil {
		return nil, fmt.Errorf("selecting cases: %w", err)
	}
	return cs, nil
}

// Report is a complete run: who was tested, in which role, and the results.
type Report struct {
	// Agent names the implementation under test.
	Agent string `json:"agent"`
	// Role is the role the suite played: "client" tests a server, "server"
	// tests a client.
	Role string `json:"role"`
	// Started is when the run began.
	Started time.Time `json:"started"`
	// Quick tells whether the 9.* sizes were reduced.
	Quick bool `json:"quick"`
	// Results are the case results in catalogue order.
	Results []*Result `json:"results"`
}
