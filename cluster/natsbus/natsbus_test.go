package natsbus

import (
	"errors"
	"testing"
)

func TestCheckSubject(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		subject string
		ok      bool
	}{
		{"wsio.room", true},
		{"wsio.room-1.sub_topic", true},
		{"wsio.a*b", true}, // a wildcard only as a whole token
		{"wsio.é", true},
		{"wsio.*", false},
		{"wsio.>", false},
		{"wsio.*.x", false},
		{"wsio.", false},
		{"wsio..x", false},
		{"", false},
		{"wsio.a b", false},
		{"wsio.a\tb", false},
		{"wsio.a\r\nPUB x 1", false},
		{"wsio.a\x00", false},
		{"wsio.a\x7f", false},
	} {
		err := checkSubject(tc.subject)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrSubject)) {
			t.Errorf("checkSubject(%q) = %v, want ok %v", tc.subject, err, tc.ok)
		}
	}
}
