// Package page is the chat room's web page and the protocol it speaks,
// shared by the chat examples: examples/chat (one process, with
// Server.Broadcast) and cluster/examples/chat (several nodes, with a
// cluster.Hub), so both serve the same page and read nicknames the same
// way.
//
// The page connects to /ws?name=NICK on its own host. Each text message it
// sends is one chat line; it shows the JSON events the server sends back:
//
//	{"type":"welcome","name":"ann","users":["ann","bob"]}   to the newcomer only
//	{"type":"join","name":"ann","time":"…"}                 to everyone
//	{"type":"message","name":"ann","text":"hi","time":"…"}  to everyone
//	{"type":"leave","name":"ann","time":"…"}                to everyone
//
// The welcome lists the members present, the newcomer included (the page
// removes its own name once, then adds it back at its own join event).
package page

import (
	_ "embed"
	"strings"
	"time"
	"unicode/utf8"
)

// HTML is the page, to be served at / of the server whose /ws is the room.
//
//go:embed index.html
var HTML []byte

// Event is one event the server sends to the page.
type Event struct {
	Type  string    `json:"type"` // welcome, join, message or leave
	Name  string    `json:"name"`
	Text  string    `json:"text,omitempty"`
	Users []string  `json:"users,omitempty"`
	Time  time.Time `json:"time,omitzero"`
}

// Nickname tidies a requested nickname: trimmed, at most 24 characters,
// "anonymous" when empty. The page shows it as text, never as HTML.
func Nickname(s string) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > 24 {
		s = string([]rune(s)[:24])
	}
	if s == "" {
		s = "anonymous"
	}
	return s
}
