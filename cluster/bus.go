package cluster

// Bus is the message bus between nodes: a subject-based publish/subscribe
// service such as core NATS or Redis pub/sub. The Hub needs only this.
//
// Implementations must deliver the messages published on one subject by
// one Bus in the order they were published, and must call a
// subscription's callback from one goroutine at a time. They reconnect by
// themselves; while the bus is away, Publish may fail or drop messages
// (the Hub counts what it can), but it must not block for long. A subject
// names one subject literally: a service that reads patterns in subject
// names (NATS wildcards) must refuse a subject it would read as one, as
// the Hub's topic names may come from users.
type Bus interface {
	// Publish sends data to every subscriber of subject, on every node,
	// including this one. It must not keep data after it returns.
	Publish(subject string, data []byte) error
	// Subscribe calls fn with each message published on subject until
	// the returned function is called. fn must not keep data after it
	// returns.
	Subscribe(subject string, fn func(data []byte)) (unsubscribe func() error, err error)
	// Close ends the bus connection and every subscription.
	Close() error
}
