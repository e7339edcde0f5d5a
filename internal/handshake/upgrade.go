package handshake

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// CheckUpgrade validates an upgrade request (RFC 6455, 4.2.1) for a
// server that answers to hosts (any host when empty) and allows the
// cross-origin requests that originPatterns match: the rules of the root
// package's ServerOptions.Hosts and OriginPatterns. It returns the HTTP
// status to refuse the request with and why, or 0 and "" for a valid
// request.
func CheckUpgrade(r *http.Request, hosts, originPatterns []string) (status int, reason string) {
	switch {
	case r.Method != http.MethodGet:
		return http.StatusMethodNotAllowed, "the method must be GET, not " + r.Method
	case !r.ProtoAtLeast(1, 1):
		return http.StatusBadRequest, "HTTP/1.1 or later is required, not " + r.Proto
	case !HasToken(r.Header, "Connection", "upgrade"):
		return http.StatusBadRequest, `the Connection header must contain "Upgrade"`
	case !HasToken(r.Header, "Upgrade", "websocket"):
		return http.StatusBadRequest, `the Upgrade header must contain "websocket"`
	}
	if reason := BodyReason(r); reason != "" {
		return http.StatusBadRequest, reason
	}
	if status, reason := checkVersion(r); status != 0 {
		return status, reason
	}
	if k := r.Header["Sec-Websocket-Key"]; len(k) != 1 || !ValidKey(k[0]) {
		return http.StatusBadRequest, "Sec-WebSocket-Key must be one base64-encoded 16-byte value"
	}
	return checkPeer(r, hosts, originPatterns)
}

// CheckConnect validates an HTTP/2 extended CONNECT that opens a
// WebSocket (RFC 8441, 4 and 5), with the same version, Hosts and origin
// rules as CheckUpgrade; HTTP/2 has no Sec-WebSocket-Key and no
// Connection or Upgrade fields. hint is added to the reason when the
// method is not CONNECT (it can say why a client did not send one). It
// returns the status to refuse the request with and why, or 0 and "".
func CheckConnect(r *http.Request, hosts, originPatterns []string, hint string) (status int, reason string) {
	proto := r.Header.Get(":protocol")
	switch {
	case r.Method != http.MethodConnect:
		return http.StatusBadRequest, "over HTTP/2 a WebSocket is opened with an extended CONNECT (RFC 8441), not " + r.Method + hint
	case proto == "":
		return http.StatusBadRequest, "a CONNECT without :protocol is a tunnel request, not a WebSocket (RFC 8441 needs :protocol websocket)"
	case !strings.EqualFold(proto, "websocket"):
		return http.StatusBadRequest, fmt.Sprintf("the :protocol %.64q is not websocket", proto)
	}
	if status, reason := checkVersion(r); status != 0 {
		return status, reason
	}
	return checkPeer(r, hosts, originPatterns)
}

func checkVersion(r *http.Request) (int, string) {
	if v := r.Header["Sec-Websocket-Version"]; len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		return http.StatusUpgradeRequired, "Sec-WebSocket-Version must be 13"
	}
	return 0, ""
}

// checkPeer applies the Hosts allow-list and the origin rules.
func checkPeer(r *http.Request, hosts, originPatterns []string) (int, string) {
	if !hostAllowed(r.Host, hosts) {
		return http.StatusMisdirectedRequest, "the request is for host " + r.Host + ", which is not in the server's Hosts"
	}
	if !originAllowed(r, originPatterns) {
		return http.StatusForbidden, "cross-origin request from " + r.Header.Get("Origin") + " not allowed"
	}
	return 0, ""
}

// BodyReason returns why r, which must have no body, has one, or "". The
// bytes behind an upgrade request's head are the client's first frames;
// a body would be HTTP's bytes among them, and a head with both
// Content-Length and Transfer-Encoding is the classic smuggling signal
// (RFC 9112, 6.3), so any declared body is refused rather than read or
// skipped. Content-Length: 0 declares none. net/http moves a valid
// Transfer-Encoding into r.TransferEncoding (dropping a Content-Length
// beside it) and refuses an unsupported one itself; the header is checked
// too for a request that was built some other way.
func BodyReason(r *http.Request) string {
	switch {
	case len(r.TransferEncoding) > 0:
		return "the request must have no body, but it has Transfer-Encoding: " + strings.Join(r.TransferEncoding, ", ")
	case len(r.Header["Transfer-Encoding"]) > 0:
		return "the request must have no body, but it has a Transfer-Encoding header"
	case r.ContentLength != 0:
		return "the request must have no body, but it has Content-Length: " + strconv.FormatInt(r.ContentLength, 10)
	}
	return ""
}

// originAllowed implements the same-origin default and the allow-list
// (see the root package's ServerOptions.OriginPatterns).
func originAllowed(r *http.Request, patterns []string) bool {
	origin := r.Header["Origin"]
	if len(origin) == 0 {
		return true
	}
	if len(origin) > 1 {
		return false
	}
	u, err := url.Parse(origin[0])
	if err != nil || u.Host == "" {
		return slices.Contains(patterns, "*")
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	host, port, ok := splitHostPort(u.Host)
	for _, p := range patterns {
		if p == "*" || ok && originMatch(p, host, port) {
			return true
		}
	}
	return false
}

// originMatch reports whether an Origin's host and port ("" for none)
// match pattern, which is not "*" alone (see the root package's
// ServerOptions.OriginPatterns).
func originMatch(pattern, host, port string) bool {
	phost, pport, ok := splitHostPort(pattern)
	if !ok || pport != "*" && pport != port {
		return false
	}
	switch suffix, wild := strings.CutPrefix(phost, "*."); {
	case phost == "*":
		return true
	case wild:
		// One or more whole labels, then the suffix; an IP address has
		// no labels to stand in for.
		n := len(host) - len(suffix)
		if suffix == "" || n < 2 || host[n-1] != '.' || !strings.EqualFold(host[n:], suffix) {
			return false
		}
		_, err := netip.ParseAddr(host)
		return err != nil
	}
	return sameHost(phost, host)
}

// hostAllowed reports whether the Host header hostport names one of
// hosts, or hosts is empty (see the root package's ServerOptions.Hosts).
func hostAllowed(hostport string, hosts []string) bool {
	if len(hosts) == 0 {
		return true
	}
	host := hostName(hostport)
	if host == "" {
		return false
	}
	for _, h := range hosts {
		if h = hostName(h); h != "" && sameHost(h, host) {
			return true
		}
	}
	return false
}

// hostName returns the host of a Host header or Hosts entry, without a
// port or an IPv6 address's brackets, or "" for one of neither shape. A
// bare IPv6 address is itself (its colons are no port).
func hostName(s string) string {
	if _, err := netip.ParseAddr(s); err == nil {
		return s
	}
	host, _, ok := splitHostPort(s)
	if !ok {
		return ""
	}
	return host
}

// splitHostPort splits "host", "host:port", "[ipv6]" or "[ipv6]:port"
// into the host, without brackets, and the port, "" for none. ok is false
// for any other shape: an empty host or port, an IPv6 address without
// brackets, anything after the brackets but a port.
func splitHostPort(s string) (host, port string, ok bool) {
	if rest, bracketed := strings.CutPrefix(s, "["); bracketed {
		host, rest, ok = strings.Cut(rest, "]")
		if !ok || host == "" {
			return "", "", false
		}
		if rest == "" {
			return host, "", true
		}
		port, ok = strings.CutPrefix(rest, ":")
		return host, port, ok && port != ""
	}
	host, port, hasPort := strings.Cut(s, ":")
	if host == "" || hasPort && (port == "" || strings.Contains(port, ":")) {
		return "", "", false
	}
	return host, port, true
}

// sameHost reports whether a and b, hosts without ports or brackets, name
// the same host: equal ignoring case, or the same IP address.
func sameHost(a, b string) bool {
	if strings.EqualFold(a, b) {
		return true
	}
	x, err := netip.ParseAddr(a)
	if err != nil {
		return false
	}
	y, err := netip.ParseAddr(b)
	return err == nil && x == y
}
