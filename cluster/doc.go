// Package cluster fans WebSocket messages out across several wsio
// processes through a message bus.
//
// Each process (node) runs a Hub. Connections Join and Leave topics;
// Publish on any node reaches every connection subscribed to the topic on
// every node. The Hub delivers to its own subscribers directly and sends
// the message once over the Bus; every other node that has subscribers for
// the topic receives it once and frames it once (wsio.Prepare) for all of
// them (Conn.SendPrepared).
//
// # Ordering
//
// Messages that one publisher (one goroutine calling Publish in turn) sends
// to one topic arrive at every subscriber in the order they were
// published. Publish queues the local copies before it returns and hands
// the bus copy to the bus client under the same lock, and both bus clients
// deliver one subject's messages from one connection in order, on one
// goroutine. On a node, each connection has one bounded queue
// (Options.QueueLen) drained by one goroutine that sends its messages in
// queue order, so a slow connection delays only itself.
//
// # Slow consumers
//
// When a connection's queue is full, Options.Policy applies: Drop skips the
// message for that connection (counted in Metrics.Dropped), Disconnect
// closes the connection with Options.CloseCode, 1013 (try again later) by
// default or 1008 (policy violation) (counted in Metrics.Disconnected). A
// send that takes longer than Options.SendTimeout closes the connection
// too, whatever the policy. A connection that is already closing (by
// Server.Shutdown's 1001, the Disconnect policy, or the peer's close
// frame) leaves its topics when a message for it is refused, and its
// closing handshake runs to the end: the Hub never cuts it short.
//
// # What the bus loses
//
// The two buses, core NATS (package natsbus) and Redis pub/sub (package
// redisbus), deliver at most once. While a node is cut off from the bus,
// or the bus is down, messages published on other nodes do not reach it
// and are never redelivered; messages its own Publish calls cannot hand to
// the bus reach only its local subscribers. The local WebSocket connections
// stay open all the while, and the bus clients reconnect and resubscribe by
// themselves. Every message on the bus carries its origin and a sequence
// number per origin and topic, so a node counts the messages it missed
// (Metrics.Lost) as soon as a later message from the same origin arrives;
// a gap at the end of a publisher's stream is not seen, nor what was
// published while the node had no subscriber to the topic. What a node
// keeps for this stays bounded however many topics come and go: the
// numbers it has seen on a topic go when its last subscriber there
// leaves, and as a publisher it keeps the numbers of at most 131,072
// topics, the recently published ones; a topic it has forgotten starts
// again at 1, which receivers take as a new sequence.
//
// The package also has ClientIP, which reads the client address from
// X-Forwarded-For or Forwarded when the request came through a trusted
// balancer, and Redial, a client-side reconnect loop with jittered backoff.
package cluster
