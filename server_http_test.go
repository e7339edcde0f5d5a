//go:build !js

package wsio_test

import (
	"bytes"
	"context"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsio/wsio"
)

// ctxKey is a context key a middleware sets, for the Request tests.
type ctxKey struct{}

// TestServerHTTPHandlerOwnGoroutine: under net/http a Server's ServeHTTP
// returns once the connection is handed to the handler, which runs on
// a goroutine of its own (so net/http's goroutine and buffers are
// freed); the connection's Request keeps the middleware's context value
// and is not canceled as net/http cancels the request's context.
func TestServerHTTPHandlerOwnGoroutine(t *testing.T) {
	t.Parallel()
	returned := make(chan struct{})
	type seen struct {
		value    any
		ctxErr   error
		returned bool
	}
	got := make(chan seen, 1)
	srv := wsio.NewServer(wsio.ServerOptions{}, func(c *wsio.Conn) {
		ctx := testCtx(t)
		m, err := c.Next(ctx) // the client speaks once ServeHTTP has returned
		if err != nil {
			return
		}
		r := c.Request()
		s := seen{value: r.Context().Value(ctxKey{}), ctxErr: r.Context().Err()}
		select {
		case <-returned:
			s.returned = true
		default:
		}
		got <- s
		_ = c.SendText(ctx, m.Text)
		drain(c)
	})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, "from middleware"))
		srv.ServeHTTP(w, r)
		close(returned)
	}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		_ = srv.Shutdown(ctx)
		ts.Close()
	})
	c := dial(t, wsURL(ts.URL), nil)
	select {
	case <-returned:
	case <-time.After(timeout):
		t.Fatal("ServeHTTP did not return while the handler runs")
	}
	roundTrip(t, c, "after ServeHTTP returned")
	s := <-got
	if !s.returned {
		t.Error("the handler ran before ServeHTTP returned")
	}
	if s.value != "from middleware" {
		t.Errorf("Request().Context() value = %v, want the middleware's", s.value)
	}
	if s.ctxErr != nil {
		t.Errorf("Request().Context() ended with the HTTP request: %v", s.ctxErr)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestServerHTTPHandlerPanic: a panic in the handler under net/http is
// recovered and logged to the http.Server's ErrorLog, as net/http does,
// and the connection is closed; http.ErrAbortHandler is not logged.
func TestServerHTTPHandlerPanic(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		value   any
		logged  bool
		message string
	}{
		{"panic", "handler blew up", true, "http: panic serving"},
		{"ErrAbortHandler", http.ErrAbortHandler, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs syncBuffer
			srv := wsio.NewServer(wsio.ServerOptions{}, func(c *wsio.Conn) { panic(tc.value) })
			ts := httptest.NewUnstartedServer(srv)
			ts.Config.ErrorLog = log.New(&logs, "", 0)
			ts.Start()
			t.Cleanup(ts.Close)
			c := dial(t, wsURL(ts.URL), nil)
			_, err := c.Next(testCtx(t))
			wantClose(t, err, wsio.StatusNormalClosure, true)
			if tc.logged {
				waitUntil(t, "the panic logged", func() bool { return strings.Contains(logs.String(), tc.message) })
				if !strings.Contains(logs.String(), "handler blew up") {
					t.Errorf("log %q does not name the panic", logs.String())
				}
			} else if s := logs.String(); s != "" {
				t.Errorf("ErrAbortHandler logged %q", s)
			}
		})
	}
}
