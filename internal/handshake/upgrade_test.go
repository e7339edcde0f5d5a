package handshake

import (
	"net/http"
	"testing"
)

// TestOriginPatterns: which Origin values a pattern lets through, beside
// the same-origin default, for a request whose Host is localhost:8080.
func TestOriginPatterns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern string // "" for none
		origin  string
		want    bool
	}{
		// The same-origin default: host and port against Host, any case,
		// any scheme.
		{"", "http://localhost:8080", true},
		{"", "HTTPS://LOCALHOST:8080", true},
		{"", "http://localhost:8081", false},
		{"", "http://localhost", false},
		{"", "null", false},
		// "*" alone allows all, even what is no URL.
		{"*", "https://anything.test", true},
		{"*", "http://[::1]:9", true},
		{"*", "null", true},
		{"*", "http://[::1", true},
		// Exact hosts, and ports.
		{"example.com", "https://example.com", true},
		{"example.com", "https://EXAMPLE.com", true},
		{"EXAMPLE.COM", "https://example.com", true},
		{"example.com", "https://example.com:8443", false},
		{"example.com", "https://chat.example.com", false},
		{"example.com", "https://example.com.evil.test", false},
		{"example.com:8443", "https://example.com:8443", true},
		{"example.com:8443", "https://example.com", false},
		{"example.com:8443", "https://example.com:443", false},
		{"localhost:*", "http://localhost:3000", true},
		{"localhost:*", "http://localhost", true},
		{"localhost:*", "http://localhost.evil.test:3000", false},
		{"*:8080", "http://anything.test:8080", true},
		{"*:8080", "http://[::1]:8080", true},
		{"*:8080", "http://anything.test:8081", false},
		{"*:8080", "http://anything.test", false},
		// A leading "*." stands for one or more labels.
		{"*.example.com", "https://chat.example.com", true},
		{"*.example.com", "https://a.b.example.com", true},
		{"*.example.com", "https://Chat.EXAMPLE.com", true},
		{"*.example.com", "https://example.com", false},
		{"*.example.com", "https://evilexample.com", false},
		{"*.example.com", "https://.example.com", false},
		{"*.example.com", "https://chat.example.com:8443", false},
		{"*.example.com:*", "https://chat.example.com:8443", true},
		{"*.example.com:*", "https://chat.example.com", true},
		{"*.example.com:8443", "https://chat.example.com:8443", true},
		{"*.example.com:8443", "https://chat.example.com:8444", false},
		{"*.0.0.1", "http://127.0.0.1", false},
		{"*.1:*", "http://[::1]:8080", false},
		{"*.", "http://example.com.", false},
		// IPv6 literals, in brackets; any spelling of the address.
		{"[::1]:*", "http://[::1]:3000", true},
		{"[::1]:*", "http://[::1]", true},
		{"[::1]:*", "http://[::2]:3000", false},
		{"[::1]:*", "http://127.0.0.1:3000", false},
		{"[::1]:8080", "http://[::1]:8080", true},
		{"[::1]:8080", "http://[::1]:8081", false},
		{"[::1]:8080", "http://[::1]", false},
		{"[::1]", "http://[::1]", true},
		{"[::1]", "http://[::1]:80", false},
		{"[0:0:0:0:0:0:0:1]:*", "http://[::1]:5", true},
		{"[2001:DB8::1]", "http://[2001:db8::1]", true},
		{"127.0.0.1:*", "http://127.0.0.1:3000", true},
		{"127.0.0.1:*", "http://127.0.0.2:3000", false},
		// Not glob patterns: what path.Match would expand matches nothing.
		{"exa?ple.com", "https://example.com", false},
		{"[e]xample.com", "https://example.com", false},
		{"*example.com", "https://example.com", false},
		{"*example.com", "https://evilexample.com", false},
		{"ex*.com", "https://example.com", false},
		{"*.example.*", "https://chat.example.com", false},
		{"::1", "http://[::1]", false},
		// Malformed patterns and origins match nothing.
		{"", "http://[::1", false},
		{"[::1", "http://[::1]", false},
		{"example.com:", "https://example.com", false},
		{"example.com", "https://example.com:", false},
	} {
		var patterns []string
		if tc.pattern != "" {
			patterns = []string{tc.pattern}
		}
		r := &http.Request{Host: "localhost:8080", Header: http.Header{"Origin": {tc.origin}}}
		if got := originAllowed(r, patterns); got != tc.want {
			t.Errorf("pattern %q, Origin %q: allowed = %v, want %v", tc.pattern, tc.origin, got, tc.want)
		}
	}
}

// TestHostsAllowList: which Host headers a Hosts list lets through.
func TestHostsAllowList(t *testing.T) {
	t.Parallel()
	local := []string{"localhost", "127.0.0.1", "::1"}
	for _, tc := range []struct {
		hosts []string
		host  string
		want  bool
	}{
		{nil, "evil.test:8080", true},
		{nil, "", true},
		{local, "localhost:8080", true},
		{local, "LocalHost:8080", true},
		{local, "localhost", true},
		{local, "127.0.0.1:9", true},
		{local, "[::1]:8080", true},
		{local, "[::1]", true},
		{local, "[0:0::1]:8080", true},
		{local, "::1", true}, // a bare address: its colons are no port
		{local, "evil.test:8080", false},
		{local, "localhost.evil.test:8080", false},
		{local, "localhost.:8080", false},
		{local, "127.0.0.2:8080", false},
		{local, "[::2]:8080", false},
		{local, "", false},
		{local, "[::1", false},
		{local, ":8080", false},
		{[]string{"[::1]"}, "[::1]:1", true},
		{[]string{"localhost:8080"}, "localhost:9999", true}, // ports are not compared
		{[]string{"Example.COM"}, "example.com", true},
		{[]string{"*.example.com"}, "chat.example.com", false}, // no wildcards
		{[]string{""}, "", false},
	} {
		if got := hostAllowed(tc.host, tc.hosts); got != tc.want {
			t.Errorf("Hosts %q, Host %q: allowed = %v, want %v", tc.hosts, tc.host, got, tc.want)
		}
	}
}
