package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsio/wsio"
)

// member is a test client in the room.
type member struct {
	name   string
	c      *wsio.Conn
	events chan event
}

func join(t *testing.T, base, name string) *member {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := wsio.Dial(ctx, base+"/ws?name="+url.QueryEscape(name), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := &member{name: name, c: c, events: make(chan event, 1000)}
	go func() {
		defer close(m.events)
		for {
			msg, err := c.Next(context.Background())
			if err != nil {
				return
			}
			var e event
			if err := json.Unmarshal([]byte(msg.Text), &e); err != nil {
				t.Errorf("%s got %q: %v", name, msg.Text, err)
				return
			}
			m.events <- e
		}
	}()
	t.Cleanup(func() { c.Close(wsio.StatusNormalClosure, "") })
	return m
}

// next returns the member's next event.
func (m *member) next(t *testing.T) event {
	t.Helper()
	select {
	case e, ok := <-m.events:
		if !ok {
			t.Fatalf("%s: connection ended", m.name)
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no event in 10 s", m.name)
	}
	return event{}
}

func (m *member) expect(t *testing.T, typ, name string) event {
	t.Helper()
	e := m.next(t)
	if e.Type != typ || e.Name != name {
		t.Fatalf("%s got %s from %q, want %s from %q", m.name, e.Type, e.Name, typ, name)
	}
	return e
}

func TestRoom(t *testing.T) {
	var logs bytes.Buffer
	var logMu sync.Mutex
	ts := httptest.NewServer(newRoom(log.New(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(p)
	}), "", 0)).handler())
	defer ts.Close()
	base := "ws" + strings.TrimPrefix(ts.URL, "http")

	// Three members join one after the other; each is welcomed with the
	// names of those present and sees the later joins.
	names := []string{"ann", "bob", "cy"}
	var ms []*member
	for i, name := range names {
		m := join(t, base, name)
		w := m.expect(t, "welcome", name)
		if want := slices.Sorted(slices.Values(names[:i+1])); !slices.Equal(w.Users, want) {
			t.Errorf("%s welcomed with users %q, want %q", name, w.Users, want)
		}
		m.expect(t, "join", name)
		for _, earlier := range ms {
			earlier.expect(t, "join", name)
		}
		ms = append(ms, m)
	}

	// Everyone talks at once.
	const each = 25
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Go(func() {
			for i := range each {
				if err := m.c.SendText(context.Background(), fmt.Sprintf("%s #%d", m.name, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()

	// Each member sees every message, each sender's in the order sent,
	// and all members see the same order.
	var first []string
	for _, m := range ms {
		var got []string
		sent := map[string]int{}
		for range len(ms) * each {
			e := m.next(t)
			if e.Type != "message" {
				t.Fatalf("%s got %s from %s, want a message", m.name, e.Type, e.Name)
			}
			if want := fmt.Sprintf("%s #%d", e.Name, sent[e.Name]); e.Text != want {
				t.Fatalf("%s got %q from %s, want %q", m.name, e.Text, e.Name, want)
			}
			sent[e.Name]++
			got = append(got, e.Text)
		}
		if first == nil {
			first = got
		} else if !slices.Equal(got, first) {
			t.Errorf("%s saw the messages in another order than %s", m.name, ms[0].name)
		}
	}

	// Blank lines are not broadcast; a line over maxLine gets its sender
	// closed with 1009, and everyone else a leave notice.
	ms[0].c.SendText(context.Background(), "   ")
	ms[2].c.SendText(context.Background(), strings.Repeat("x", maxLine+1))
	for _, m := range ms[:2] {
		m.expect(t, "leave", "cy")
	}
	if _, ok := <-ms[2].events; ok {
		t.Error("cy got an event after sending an oversized line")
	}
	var ce *wsio.CloseError
	if err := ms[2].c.Err(); !errors.As(err, &ce) || ce.Code != wsio.StatusMessageTooBig {
		t.Errorf("cy's connection ended with %v, want 1009", err)
	}

	// A member who closes is announced too.
	ms[1].c.Close(wsio.StatusNormalClosure, "bye")
	ms[0].expect(t, "leave", "bob")
	logMu.Lock()
	defer logMu.Unlock()
	if logs.Len() > 0 {
		t.Logf("server log:\n%s", logs.String())
	}
}

func TestNickname(t *testing.T) {
	for in, want := range map[string]string{
		"  ann ":                       "ann",
		"":                             "anonymous",
		strings.Repeat("é", 30):        strings.Repeat("é", 24),
		"<b>bold</b>":                  "<b>bold</b>", // the page shows it as text
		"0123456789012345678901234567": "012345678901234567890123",
	} {
		if got := nickname(in); got != want {
			t.Errorf("nickname(%q) = %q, want %q", in, got, want)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
