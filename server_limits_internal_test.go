//go:build !js

package wsio

import (
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wsio/wsio/internal/wstest"
)

// TestServerKeepaliveDefault: a Server's connections have keepalive on
// with a 30 s interval unless the options set an interval of their own
// (a negative one turns it off), on both fronts and for both kinds of
// Server. Accept and Dial keep their own default, off.
func TestServerKeepaliveDefault(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		interval time.Duration
		want     time.Duration // 0: no keepalive
	}{
		{"default", 0, 30 * time.Second},
		{"set", time.Minute, time.Minute},
		{"off", -1, 0},
	}
	kinds := map[string]func(ServerOptions) *Server{
		"handler": func(o ServerOptions) *Server {
			return NewServer(o, func(c *Conn) { _, _ = c.Next(context.Background()) })
		},
		"events": func(o ServerOptions) *Server { return NewEventServer(o, Events{}) },
	}
	for _, tc := range cases {
		for kind, newServer := range kinds {
			for _, front := range []string{"Serve", "net/http"} {
				t.Run(tc.name+"/"+kind+"/"+front, func(t *testing.T) {
					t.Parallel()
					srv := newServer(ServerOptions{Options: Options{KeepaliveInterval: tc.interval}})
					t.Cleanup(func() { _ = srv.Close() })
					var url string
					if front == "Serve" {
						ln, err := net.Listen("tcp", "127.0.0.1:0")
						if err != nil {
							t.Fatal(err)
						}
						go func() { _ = srv.Serve(ln) }()
						url = "ws://" + ln.Addr().String()
					} else {
						ts := httptest.NewServer(srv)
						t.Cleanup(ts.Close)
						url = "ws" + strings.TrimPrefix(ts.URL, "http")
					}
					client := dial(t, url, nil)
					if client.ka != nil {
						t.Error("the client has keepalive on, want Dial's default (off)")
					}
					wstest.WaitUntil(t, "the server tracks the connection", func() bool { return srv.Len() > 0 })
					for c := range srv.Conns() {
						switch {
						case tc.want == 0 && c.ka != nil:
							t.Errorf("keepalive on (interval %v), want off", c.ka.interval)
						case tc.want != 0 && c.ka == nil:
							t.Errorf("keepalive off, want an interval of %v", tc.want)
						case tc.want != 0 && (c.ka.interval != tc.want || c.ka.timeout != tc.want):
							t.Errorf("keepalive interval %v, timeout %v; want %v for both", c.ka.interval, c.ka.timeout, tc.want)
						}
					}
				})
			}
		}
	}
}
