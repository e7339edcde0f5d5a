package cluster

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// TrustedProxies says which peers' forwarding headers to believe. A
// balancer in front of the nodes connects to them itself, so the
// request's RemoteAddr is the balancer's address; the client's is in a
// header the balancer adds. Any client can send that header too, so it is
// read only from requests whose RemoteAddr is a trusted proxy, and only
// the header the proxies are configured to set.
type TrustedProxies struct {
	// Prefixes are the addresses of the trusted proxies.
	Prefixes []netip.Prefix
	// Forwarded selects the RFC 7239 Forwarded header (its for=
	// parameters) instead of X-Forwarded-For. Read only the header your
	// balancer sets (and replaces or appends to): a header it does not
	// touch is entirely the client's.
	Forwarded bool
}

// ClientIP returns the address of the client that made r. When r came
// from a trusted proxy, it walks the addresses in the forwarding header
// from the right (the hop nearest to this server) past the trusted ones
// and returns the first untrusted one; if a value there is not an address
// ("unknown", an obfuscated name) it stops at the last trusted hop. When
// r did not come from a trusted proxy, or the header is absent, it returns
// r.RemoteAddr's address. It returns the zero Addr if RemoteAddr is not an
// IP address (a Unix socket).
func (tp TrustedProxies) ClientIP(r *http.Request) netip.Addr {
	peer, ok := parseHost(r.RemoteAddr)
	if !ok {
		return netip.Addr{}
	}
	if !tp.trusted(peer) {
		return peer
	}
	var chain []string
	if tp.Forwarded {
		chain = forwardedFor(r.Header.Values("Forwarded"))
	} else {
		for _, line := range r.Header.Values("X-Forwarded-For") {
			chain = append(chain, strings.Split(line, ",")...)
		}
	}
	cur := peer
	for i := len(chain) - 1; i >= 0; i-- {
		a, ok := parseHost(strings.TrimSpace(chain[i]))
		if !ok {
			return cur
		}
		if !tp.trusted(a) {
			return a
		}
		cur = a
	}
	return cur
}

func (tp TrustedProxies) trusted(a netip.Addr) bool {
	for _, p := range tp.Prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor returns the for= values of Forwarded header lines, in order.
func forwardedFor(lines []string) []string {
	var out []string
	for _, line := range lines {
		for elem := range strings.SplitSeq(line, ",") {
			v := "unknown" // an element without for= names no address
			for pair := range strings.SplitSeq(elem, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(k, "for") {
					v = strings.Trim(strings.TrimSpace(val), `"`)
				}
			}
			out = append(out, v)
		}
	}
	return out
}

// parseHost reads an address with or without a port, IPv6 in brackets or
// not, and unmaps IPv4-mapped IPv6.
func parseHost(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
