// Package redisbus is a cluster.Bus on Redis pub/sub
// (github.com/redis/go-redis/v9).
//
// Redis pub/sub delivers at most once. The client reconnects by itself and
// resubscribes; while the connection is down, messages published on other
// nodes are not delivered to this one and never will be, and Publish fails
// (those messages reach only the publishing node's own subscribers), for
// up to a second more once the server is back: the client's pool, after
// failed dials, tries again once a second. The cluster.Hub counts the gaps
// it sees (Metrics.Lost).
package redisbus

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// PublishTimeout bounds one Publish.
const PublishTimeout = 2 * time.Second

// Bus is a cluster.Bus on a Redis client: publishes go through its pool,
// and all subscriptions share one pub/sub connection read by one goroutine.
type Bus struct {
	c  *redis.Client
	ps *redis.PubSub

	mu   sync.Mutex
	subs map[string]func([]byte) // by channel
	done chan struct{}
}

// New returns a Bus on a client made from opts; Close closes it.
func New(opts *redis.Options) *Bus {
	c := redis.NewClient(opts)
	b := &Bus{c: c, ps: c.Subscribe(context.Background()), subs: make(map[string]func([]byte)), done: make(chan struct{})}
	ch := b.ps.Channel(redis.WithChannelSize(1<<16), redis.WithChannelHealthCheckInterval(time.Second))
	go b.dispatch(ch)
	return b
}

// dispatch hands each message to its channel's callback, in arrival order.
func (b *Bus) dispatch(ch <-chan *redis.Message) {
	defer close(b.done)
	for m := range ch {
		b.mu.Lock()
		fn := b.subs[m.Channel]
		b.mu.Unlock()
		if fn != nil {
			fn([]byte(m.Payload))
		}
	}
}

// Client returns the Redis client.
func (b *Bus) Client() *redis.Client { return b.c }

// Publish publishes data on the channel subject.
func (b *Bus) Publish(subject string, data []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), PublishTimeout)
	defer cancel()
	if err := b.c.Publish(ctx, subject, data).Err(); err != nil {
		return fmt.Errorf("redisbus: publish: %w", err)
	}
	return nil
}

// Subscribe calls fn with each message on the channel subject, in order,
// on the Bus's one dispatching goroutine. One callback per channel: a
// second Subscribe to the same channel replaces the first.
func (b *Bus) Subscribe(subject string, fn func([]byte)) (func() error, error) {
	b.mu.Lock()
	b.subs[subject] = fn
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), PublishTimeout)
	defer cancel()
	if err := b.ps.Subscribe(ctx, subject); err != nil {
		b.mu.Lock()
		delete(b.subs, subject)
		b.mu.Unlock()
		return nil, fmt.Errorf("redisbus: subscribe: %w", err)
	}
	return func() error {
		b.mu.Lock()
		delete(b.subs, subject)
		b.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), PublishTimeout)
		defer cancel()
		return b.ps.Unsubscribe(ctx, subject)
	}, nil
}

// Close ends the subscriptions and the client.
func (b *Bus) Close() error {
	err := b.ps.Close()
	<-b.done
	if cerr := b.c.Close(); err == nil {
		err = cerr
	}
	return err
}
