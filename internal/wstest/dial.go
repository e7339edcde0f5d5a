package wstest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
)

// Dialer is a NetDial (of wsio.DialOptions) for tests that records every
// address it is asked for. It dials the address Map maps the asked one to
// (the asked one itself when Map has no entry), unless Allow is set and
// rejects the asked address: then it fails without dialing. The zero
// Dialer dials everything. It may be used by several dials at once.
type Dialer struct {
	// Map maps an address asked for to the address dialed, so a test can
	// give a host name that no resolver knows.
	Map map[string]string
	// Allow, when set, says which asked addresses are dialed; Nowhere
	// refuses them all.
	Allow func(addr string) bool

	mu    sync.Mutex
	asked []string
}

// Dial records addr and dials it as the Dialer's fields say.
func (d *Dialer) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.asked = append(d.asked, addr)
	d.mu.Unlock()
	if d.Allow != nil && !d.Allow(addr) {
		return nil, fmt.Errorf("the test's dialer refuses to dial %s", addr)
	}
	if to, ok := d.Map[addr]; ok {
		addr = to
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

// Dialed returns the addresses Dial was asked for so far, in order.
func (d *Dialer) Dialed() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.asked...)
}

// Nowhere is an Allow of a Dialer that refuses every address.
func Nowhere(string) bool { return false }

// LoopbackOnly is a NetDial that dials addresses of 127.0.0.1 and refuses
// every other without dialing, for tests whose target (a documentation
// address such as 192.0.2.1) must never be dialed.
func LoopbackOnly(ctx context.Context, network, addr string) (net.Conn, error) {
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		return nil, fmt.Errorf("the test's dialer refuses to dial %s", addr)
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}
