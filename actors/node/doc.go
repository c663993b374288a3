// Package node is the transport of a cluster node: how messages between entities cross from one
// node to another, on protoactor-go's cluster package (membership, gossip, remote) with kaquan's
// own placement.
//
//   - Placement (a cluster.IdentityLookup) reads membership only from the *cluster.ClusterTopology
//     events on the actor system's event stream, into ordinal -> address (slot.Place: fail
//     closed). An identity is only ever placed on its slot's owner; an owner that is absent is
//     unavailable, never someone else's.
//   - Gateway is the one process a node registers for its peers (GatewayName). It takes
//     EntityEnvelopes, checks that their body is known and that this node owns the target's slot,
//     and hands them to the local Router. Anything else is refused and counted, never delivered.
//   - Sender is the actors.Sender of a cluster node: a local slot goes to the Router as on one
//     node; a foreign one leaves in an envelope once every write submitted before it is durable
//     (one writer barrier per group commit, not per message), for the owner's gateway.
//   - Member starts and stops this node's cluster membership (automanaged over the peers' health
//     ports, or a provider a test passes) and reports a node that fell out of its own topology.
//
// Delivery between nodes is at most once and unordered across senders (remote drops what is in
// flight when a link breaks, a node that is down drops what is sent to it): the saga resends.
package node
