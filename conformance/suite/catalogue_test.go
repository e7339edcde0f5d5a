package suite

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCatalogueShape(t *testing.T) {
	cs := Catalogue(CatalogueOptions{})
	perFamily := map[string]int{}
	ids := map[string]bool{}
	for _, c := range cs {
		if ids[c.ID] {
			t.Errorf("duplicate case id %s", c.ID)
		}
		ids[c.ID] = true
		perFamily[c.Family()]++
		if c.Description == "" || c.Expectation == "" {
			t.Errorf("%s: missing description or expectation", c.ID)
		}
		if !c.Unimplemented && c.judge == nil && len(c.Expect) == 0 {
			t.Errorf("%s: no expectation and no judge", c.ID)
		}
	}
	want := map[string]int{"1": 16, "2": 11, "3": 7, "4": 10, "5": 20, "6": 145, "7": 37, "9": 54, "10": 1, "12": 90, "13": 126, "W": 3}
	for f, n := range want {
		if perFamily[f] != n {
			t.Errorf("family %s: %d cases, want %d", f, perFamily[f], n)
		}
	}
	if len(cs) != 517+3 {
		t.Errorf("catalogue has %d cases, want 517 Autobahn cases + 3 W cases", len(cs))
	}
	for _, id := range []string{"1.1.1", "1.2.8", "2.11", "4.2.5", "5.20", "6.4.4", "6.5.1", "6.23.7", "7.1.6", "7.7.13", "7.9.9", "7.13.2", "9.8.6", "10.1.1", "12.5.18", "13.7.18"} {
		if !ids[id] {
			t.Errorf("case %s missing", id)
		}
	}
}

// TestUTF8Groups checks the generated 6.5–6.23 table against Autobahn's
// verdicts: per group, the number of valid and invalid sequences.
func TestUTF8Groups(t *testing.T) {
	want := []struct {
		id             string
		valid, invalid int
	}{
		{"6.5", 5, 0}, {"6.6", 5, 6}, {"6.7", 4, 0}, {"6.8", 0, 2}, {"6.9", 4, 0}, {"6.10", 0, 3},
		{"6.11", 4, 1}, {"6.12", 0, 8}, {"6.13", 0, 5}, {"6.14", 0, 10}, {"6.15", 0, 1}, {"6.16", 0, 3},
		{"6.17", 0, 5}, {"6.18", 0, 5}, {"6.19", 0, 5}, {"6.20", 0, 7}, {"6.21", 0, 8}, {"6.22", 34, 0}, {"6.23", 7, 0},
	}
	groups := utf8Groups()
	if len(groups) != len(want) {
		t.Fatalf("%d groups, want %d", len(groups), len(want))
	}
	for i, g := range groups {
		v, inv := 0, 0
		for _, s := range g.seqs {
			if utf8.ValidString(s) {
				v++
			} else {
				inv++
			}
		}
		if v != want[i].valid || inv != want[i].invalid {
			t.Errorf("%s %q: %d valid/%d invalid, want %d/%d", want[i].id, g.title, v, inv, want[i].valid, want[i].invalid)
		}
	}
	// Spot checks of single sequences.
	byID := map[string]*Case{}
	for _, c := range family6() {
		byID[c.ID] = c
	}
	for id, payload := range map[string]string{"6.7.4": "\xf0\x90\x80\x80", "6.12.8": "", "6.11.5": "\xf4\x90\x80\x80", "6.22.34": "\xf4\x8f\xbf\xbf"} {
		c := byID[id]
		if c == nil {
			t.Errorf("%s missing", id)
			continue
		}
		if payload != "" && !strings.Contains(c.Description, fmt.Sprintf("0x%x", payload)) {
			t.Errorf("%s: description %q does not show payload %x", id, c.Description, payload)
		}
	}
}

func TestFilter(t *testing.T) {
	cs := Catalogue(CatalogueOptions{Quick: true})
	tests := []struct {
		include, exclude []string
		want             int
	}{
		{nil, nil, 520},
		{[]string{"1.*"}, nil, 16},
		{[]string{"1.*", "2.*", "6.4.*"}, nil, 31},
		{nil, []string{"9.*", "12.*", "13.*"}, 520 - 54 - 216},
		{[]string{"7.1.6"}, nil, 1},
		{[]string{"1.1.*"}, []string{"1.1.8"}, 7},
		{[]string{"10.*"}, nil, 1},
	}
	for _, tc := range tests {
		got, err := Filter(cs, tc.include, tc.exclude)
		if err != nil {
			t.Fatalf("Filter(%v, %v): %v", tc.include, tc.exclude, err)
		}
		if len(got) != tc.want {
			t.Errorf("Filter(%v, %v): %d cases, want %d", tc.include, tc.exclude, len(got), tc.want)
		}
	}
	if _, err := Filter(cs, []string{"["}, nil); err == nil {
		t.Error("bad pattern accepted")
	}
}

func TestFrameRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		f    WireFrame
		hdr  int
	}{
		{"empty text", WireFrame{Fin: true, Opcode: OpText}, 2},
		{"125", WireFrame{Fin: true, Opcode: OpBinary, Payload: bytes.Repeat([]byte{1}, 125)}, 2},
		{"126", WireFrame{Fin: true, Opcode: OpBinary, Payload: bytes.Repeat([]byte{2}, 126)}, 4},
		{"65535", WireFrame{Opcode: OpText, Payload: bytes.Repeat([]byte{3}, 65535)}, 4},
		{"65536 masked", WireFrame{Fin: true, Opcode: OpText, Masked: true, Payload: bytes.Repeat([]byte{4}, 65536)}, 14},
		{"rsv and reserved opcode", WireFrame{Fin: true, RSV: 5, Opcode: 11, Masked: true, Payload: []byte("x")}, 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc := AppendFrame(nil, &tc.f)
			if got := len(enc) - len(tc.f.Payload); got != tc.hdr {
				t.Errorf("header length %d, want %d", got, tc.hdr)
			}
			got, err := ReadFrame(bufio.NewReader(bytes.NewReader(enc)), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if got.Fin != tc.f.Fin || got.RSV != tc.f.RSV || got.Opcode != tc.f.Opcode || got.Masked != tc.f.Masked || !bytes.Equal(got.Payload, tc.f.Payload) {
				t.Errorf("round trip mismatch: %+v", got)
			}
		})
	}
	big := AppendFrame(nil, &WireFrame{Fin: true, Opcode: OpText, Payload: make([]byte, 2000)})
	if _, err := ReadFrame(bufio.NewReader(bytes.NewReader(big)), 1000); err == nil {
		t.Error("oversized frame accepted")
	}
}

func TestAcceptKey(t *testing.T) {
	// The example of RFC 6455 section 1.3.
	if got := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("AcceptKey = %q", got)
	}
}
