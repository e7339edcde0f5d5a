package cluster_test

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/wsio/wsio/cluster"
)

func TestClientIP(t *testing.T) {
	t.Parallel()
	lb := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, tc := range []struct {
		name      string
		remote    string
		xff       []string
		forwarded []string
		useFwd    bool
		want      string
	}{
		{name: "direct client, header ignored", remote: "203.0.113.9:5000", xff: []string{"198.51.100.1"}, want: "203.0.113.9"},
		{name: "through the balancer", remote: "10.0.0.2:80", xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "forged entry left of the real one", remote: "10.0.0.2:80", xff: []string{"6.6.6.6, 198.51.100.1"}, want: "198.51.100.1"},
		{name: "two trusted hops", remote: "10.0.0.2:80", xff: []string{"198.51.100.1, 10.1.1.1"}, want: "198.51.100.1"},
		{name: "header on two lines", remote: "10.0.0.2:80", xff: []string{"6.6.6.6", "198.51.100.1"}, want: "198.51.100.1"},
		{name: "all trusted", remote: "10.0.0.2:80", xff: []string{"10.9.9.9, 10.1.1.1"}, want: "10.9.9.9"},
		{name: "garbage stops at the last trusted hop", remote: "10.0.0.2:80", xff: []string{"198.51.100.1, nonsense"}, want: "10.0.0.2"},
		{name: "no header", remote: "10.0.0.2:80", want: "10.0.0.2"},
		{name: "IPv6 balancer", remote: "[::1]:80", xff: []string{"2001:db8::7"}, want: "2001:db8::7"},
		{name: "XFF with a port", remote: "10.0.0.2:80", xff: []string{"198.51.100.1:4711"}, want: "198.51.100.1"},
		{name: "Forwarded", remote: "10.0.0.2:80", useFwd: true, forwarded: []string{`for=6.6.6.6, for="[2001:db8::7]:4711";proto=https`}, want: "2001:db8::7"},
		{name: "Forwarded ignores XFF", remote: "10.0.0.2:80", useFwd: true, xff: []string{"6.6.6.6"}, forwarded: []string{"for=198.51.100.1;by=10.0.0.2"}, want: "198.51.100.1"},
		{name: "XFF ignores Forwarded", remote: "10.0.0.2:80", xff: []string{"198.51.100.1"}, forwarded: []string{"for=6.6.6.6"}, want: "198.51.100.1"},
		{name: "Forwarded unknown", remote: "10.0.0.2:80", useFwd: true, forwarded: []string{"for=unknown"}, want: "10.0.0.2"},
		{name: "Forwarded obfuscated", remote: "10.0.0.2:80", useFwd: true, forwarded: []string{"for=_hidden, for=10.3.3.3"}, want: "10.3.3.3"},
		{name: "Forwarded quoted comma", remote: "10.0.0.2:80", useFwd: true, forwarded: []string{`for=198.51.100.1;ext="a,b", for=10.3.3.3`}, want: "198.51.100.1"},
		{name: "Forwarded quoted semicolon", remote: "10.0.0.2:80", useFwd: true, forwarded: []string{`for=198.51.100.1;ext="x;for=6.6.6.6"`}, want: "198.51.100.1"},
		{name: "Forwarded escaped quote", remote: "10.0.0.2:80", useFwd: true, forwarded: []string{`for="[2001:db8::7]:4711";ext="a\",b"`}, want: "2001:db8::7"},
		{name: "Forwarded quote left open by the client", remote: "10.0.0.2:80", useFwd: true, forwarded: []string{`for="6.6.6.6, for=198.51.100.1`}, want: "198.51.100.1"},
		{name: "Forwarded quote left open in a hop", remote: "10.0.0.2:80", useFwd: true, forwarded: []string{`for=198.51.100.1, for="10.3.3.3`}, want: "10.0.0.2"},
		{name: "mapped IPv4", remote: "[::ffff:10.0.0.2]:80", xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "not an IP", remote: "@unix", want: "invalid IP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			for _, v := range tc.forwarded {
				r.Header.Add("Forwarded", v)
			}
			got := cluster.TrustedProxies{Prefixes: lb, Forwarded: tc.useFwd}.ClientIP(r)
			if got.String() != tc.want {
				t.Errorf("ClientIP = %s, want %s", got, tc.want)
			}
		})
	}
}
