// Command proxy-dial opens a WebSocket connection through a proxy, prints
// the handshake response's status, sends one text message and prints the
// echo. The proxy is -proxy, or else the environment's, as net/http reads
// it: HTTP_PROXY for ws:// URLs, HTTPS_PROXY for wss:// ones, ALL_PROXY
// when those are empty, NO_PROXY for the exceptions (and loopback
// addresses are never proxied that way).
//
//	go run ./examples/proxy-dial -url ws://echo.example.com/ -proxy http://127.0.0.1:3128
//	go run ./examples/proxy-dial -url wss://echo.example.com/ -proxy socks5://user:pass@127.0.0.1:1080
//	HTTPS_PROXY=http://proxy.corp:8080 go run ./examples/proxy-dial -url wss://echo.example.com/
//
// An http:// or https:// proxy is asked for a tunnel with CONNECT (with
// Basic Proxy-Authorization when the proxy URL holds a user and
// password); a socks5:// or socks5h:// proxy is asked with SOCKS5. The
// WebSocket handshake (and TLS, for wss://) then runs inside the tunnel.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/url"
	"os"
	"time"

	"github.com/wsio/wsio"
)

func main() {
	target := flag.String("url", "ws://127.0.0.1:9001/", "WebSocket URL to dial")
	proxy := flag.String("proxy", "", "proxy URL: http://, https://, socks5:// or socks5h:// (default: from the environment)")
	msg := flag.String("msg", "hello through the proxy", "text message to send")
	flag.Parse()
	log.SetFlags(0)
	if err := run(context.Background(), os.Stdout, *target, *proxy, *msg); err != nil {
		log.Fatal("proxy-dial: ", err)
	}
}

func run(ctx context.Context, out io.Writer, target, proxy, msg string) error {
	opts := &wsio.DialOptions{HandshakeTimeout: 15 * time.Second}
	if proxy != "" {
		pu, err := url.Parse(proxy)
		if err != nil {
			// url.Parse's error quotes the whole URL, password included.
			return errors.New("-proxy: not a URL with a host")
		}
		// Proxy chooses the proxy for each dial; this one always answers
		// pu. Leaving Proxy nil reads the environment instead.
		opts.Proxy = func(*url.URL) (*url.URL, error) { return pu, nil }
		fmt.Fprintf(out, "proxy    %s\n", proxyName(pu))
	} else {
		fmt.Fprintf(out, "proxy    from the environment: %s\n", envProxy(target))
	}

	c, resp, err := wsio.Dial(ctx, target, opts)
	if err != nil {
		// A proxy that refused the tunnel (a 407, say) or a server that
		// refused the upgrade: either way resp is the refusing answer.
		if resp != nil {
			fmt.Fprintf(out, "refused  %s\n", resp.Status)
		}
		if errors.Is(err, wsio.ErrProxy) {
			fmt.Fprintln(out, "failed   at the proxy, before reaching the WebSocket server")
		}
		return err
	}
	defer c.Close(wsio.StatusNormalClosure, "")
	fmt.Fprintf(out, "response %s\n", resp.Status) // the WebSocket server's 101, from inside the tunnel

	if err := c.SendText(ctx, msg); err != nil {
		return err
	}
	fmt.Fprintf(out, "sent     %q\n", msg)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := c.Next(ctx)
	if err != nil {
		return err
	}
	if m.Kind != wsio.Text {
		return fmt.Errorf("got a %v message, want text", m.Kind)
	}
	fmt.Fprintf(out, "received %q\n", m.Text)
	return c.Close(wsio.StatusNormalClosure, "")
}

// envProxy says which proxy the environment chooses for target.
func envProxy(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return err.Error()
	}
	pu, err := wsio.ProxyFromEnvironment(u)
	switch {
	case err != nil:
		return err.Error()
	case pu == nil:
		return "none, dialing directly"
	}
	return proxyName(pu)
}

// proxyName names a proxy by its scheme and host alone: user info, and a
// path where a misparsed value may have put credentials, stay out of the
// output.
func proxyName(pu *url.URL) string {
	return pu.Scheme + "://" + pu.Host
}
