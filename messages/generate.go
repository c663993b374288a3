// Package messages holds kaquan's protobuf messages, generated from the files below, in one package
// (kaquan.v1): records.proto (everything persistence stores), actor_messages.proto (what actors send
// each other), node_calls.proto (what a cluster node asks the node owning an entity),
// cluster_messages.proto (the envelope that carries actor messages between cluster nodes) and
// service.proto (the network API; its Connect handlers are in messagesconnect).
//
// Regenerate with `make generate` at the repository root: it installs the pinned protoc-gen-go and
// protoc-gen-connect-go, checks protoc's version and runs the line below. `make check-generate`
// fails when the checked-in code differs from what they generate.
package messages

//go:generate protoc --go_out=. --go_opt=paths=source_relative --connect-go_out=. --connect-go_opt=paths=source_relative records.proto actor_messages.proto node_calls.proto cluster_messages.proto service.proto
