package wstest

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
)

// proxyEnv lists the environment variables wsio.ProxyFromEnvironment
// reads.
var proxyEnv = []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
	"ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy", "REQUEST_METHOD"}

// ClearProxyEnv empties, for the rest of the test, every environment
// variable that wsio.ProxyFromEnvironment reads, so that only what the test
// sets applies. As with tb.Setenv, a test that calls it cannot be parallel.
func ClearProxyEnv(tb testing.TB) {
	tb.Helper()
	for _, k := range proxyEnv {
		tb.Setenv(k, "")
	}
}

// ParseURL parses s, failing the test when it is no URL.
func ParseURL(tb testing.TB, s string) *url.URL {
	tb.Helper()
	u, err := url.Parse(s)
	if err != nil {
		tb.Fatalf("parsing the URL %q: %v", s, err)
	}
	return u
}

// SecretShown returns the text of the first error in err's chain (err and
// every error it wraps, depth first) that shows secret in any form: as it
// is, percent-encoded, or inside the base64 of the Basic credentials
// user:secret. It returns "" when no error of the chain does.
func SecretShown(err error, user, secret string) string {
	if err == nil {
		return ""
	}
	forms := []string{secret, url.QueryEscape(secret), url.PathEscape(secret),
		base64.StdEncoding.EncodeToString([]byte(user + ":" + secret))}
	for _, f := range forms {
		if strings.Contains(err.Error(), f) {
			return err.Error()
		}
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return SecretShown(u.Unwrap(), user, secret)
	case interface{ Unwrap() []error }:
		for _, w := range u.Unwrap() {
			if s := SecretShown(w, user, secret); s != "" {
				return s
			}
		}
	}
	return ""
}
