// Package natsbus is a cluster.Bus on core NATS (github.com/nats-io/nats.go).
//
// Core NATS delivers at most once. The client reconnects by itself and
// resubscribes; while it is away, messages published on other nodes are
// not delivered to this one and never will be, and its own publishes wait
// in the client's reconnect buffer (nats.ReconnectBufSize) and go out
// after it reconnects, when other nodes may not have resubscribed yet, so
// they can be lost too. A publish that does not fit in the buffer fails.
// The cluster.Hub counts the gaps it sees (Metrics.Lost).
//
// A subject must name one subject literally: NATS reads a "*" or ">" token
// as a wildcard, so a Hub topic named "*" (a chat room named by its users,
// say) would subscribe its members to the other topics' messages. Publish
// and Subscribe refuse such subjects with ErrSubject.
package natsbus

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// ErrSubject is returned by Publish and Subscribe for a subject that is
// not one literal NATS subject: it is empty, has an empty token, a
// wildcard token ("*" or ">"), or white space or a control character.
var ErrSubject = errors.New("natsbus: not a literal NATS subject")

// checkSubject returns ErrSubject, with subject, unless subject is one
// literal NATS subject.
func checkSubject(subject string) error {
	for tok := range strings.SplitSeq(subject, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return fmt.Errorf("%w: %q", ErrSubject, subject)
		}
	}
	return nil
}

// Bus is a cluster.Bus on one NATS connection.
type Bus struct {
	nc *nats.Conn
}

// Connect connects to the NATS servers at url (a comma-separated list), to
// reconnect forever, every 250 ms with jitter, and to keep trying when the
// first connection fails. opts come after those defaults, so they can
// change them.
func Connect(url string, opts ...nats.Option) (*Bus, error) {
	all := append([]nats.Option{
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, 100*time.Millisecond),
		nats.RetryOnFailedConnect(true),
	}, opts...)
	nc, err := nats.Connect(url, all...)
	if err != nil {
		return nil, fmt.Errorf("natsbus: %w", err)
	}
	return &Bus{nc: nc}, nil
}

// New returns a Bus on an open connection; Close closes it.
func New(nc *nats.Conn) *Bus { return &Bus{nc: nc} }

// Conn returns the NATS connection (for its status and statistics).
func (b *Bus) Conn() *nats.Conn { return b.nc }

// Publish publishes data on subject. During a reconnect it is buffered
// (see the package comment).
func (b *Bus) Publish(subject string, data []byte) error {
	if err := checkSubject(subject); err != nil {
		return err
	}
	if err := b.nc.Publish(subject, data); err != nil {
		return fmt.Errorf("natsbus: publish: %w", err)
	}
	return nil
}

// Subscribe calls fn with each message on subject, in order, on one
// goroutine of the subscription's own. Its pending limits are lifted, so
// the client never drops a message for a slow callback.
func (b *Bus) Subscribe(subject string, fn func([]byte)) (func() error, error) {
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	sub, err := b.nc.Subscribe(subject, func(m *nats.Msg) { fn(m.Data) })
	if err != nil {
		return nil, fmt.Errorf("natsbus: subscribe: %w", err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("natsbus: subscribe: %w", err)
	}
	return sub.Unsubscribe, nil
}

// Close closes the NATS connection, ending every subscription.
func (b *Bus) Close() error {
	b.nc.Close()
	return nil
}
