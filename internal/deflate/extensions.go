package deflate

import (
	"errors"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// The extension header grammar (RFC 6455, 9.1):
//
//	extension-list = 1#extension
//	extension      = token *( ";" param )
//	param          = token [ "=" (token | quoted-string) ]

// Extension is one element of a Sec-WebSocket-Extensions list: a name
// and its parameters, in order.
type Extension struct {
	// Name is the extension's token.
	Name string
	// Params are the extension's parameters, in the order given.
	Params []Param
}

// Param is one parameter of an Extension.
type Param struct {
	// Name is the parameter's token.
	Name string
	// Value is the parameter's value, unquoted; "" when it has none.
	Value string
	// HasValue reports whether the parameter was given a value ("=").
	HasValue bool
}

// ErrSyntax means a Sec-WebSocket-Extensions value does not follow the
// grammar.
var ErrSyntax = errors.New("malformed Sec-WebSocket-Extensions header")

// ParseExtensions parses every Sec-WebSocket-Extensions value, in order,
// into one list. Empty list elements are skipped, as RFC 9110's list
// rule allows; anything else outside the grammar is ErrSyntax.
func ParseExtensions(values []string) ([]Extension, error) {
	var out []Extension
	for _, s := range values {
		for {
			s = skipOWS(s)
			if s == "" {
				break
			}
			if s[0] == ',' {
				s = s[1:]
				continue
			}
			var e Extension
			if e.Name, s = cutToken(s); e.Name == "" {
				return nil, ErrSyntax
			}
			for {
				s = skipOWS(s)
				if s == "" || s[0] == ',' {
					break
				}
				if s[0] != ';' {
					return nil, ErrSyntax
				}
				var p Param
				if p.Name, s = cutToken(skipOWS(s[1:])); p.Name == "" {
					return nil, ErrSyntax
				}
				if t := skipOWS(s); t != "" && t[0] == '=' {
					p.HasValue = true
					t = skipOWS(t[1:])
					if t != "" && t[0] == '"' {
						var err error
						if p.Value, s, err = cutQuoted(t); err != nil {
							return nil, err
						}
					} else if p.Value, s = cutToken(t); p.Value == "" {
						return nil, ErrSyntax
					}
				}
				e.Params = append(e.Params, p)
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// skipOWS drops the optional white space (spaces and tabs) at the start
// of s.
func skipOWS(s string) string { return strings.TrimLeft(s, " \t") }

// cutToken cuts the longest run of token characters off the start of s.
func cutToken(s string) (tok, rest string) {
	i := 0
	for i < len(s) && httpguts.IsTokenRune(rune(s[i])) {
		i++
	}
	return s[:i], s[i:]
}

// cutQuoted cuts the quoted-string at the start of s, which begins with
// '"', and returns its unescaped value.
func cutQuoted(s string) (val, rest string, err error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], nil
		case '\\':
			if i+1 == len(s) {
				return "", "", ErrSyntax
			}
			i++
			b.WriteByte(s[i])
		default:
			if c < 0x20 && c != '\t' || c == 0x7F {
				return "", "", ErrSyntax
			}
			b.WriteByte(c)
		}
	}
	return "", "", ErrSyntax
}

// parseBits reads a window-bits value: a decimal 8–15 without leading zeros.
func parseBits(v string) (int, bool) {
	if len(v) == 0 || len(v) > 2 || v[0] == '0' {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 8 && n <= 15
}

// names lists the extensions' names, in order.
func names(es []Extension) []string {
	n := make([]string, len(es))
	for i, e := range es {
		n[i] = e.Name
	}
	return n
}
