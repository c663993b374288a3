// Package messages holds kaquan's protobuf messages: everything stored and every message between actors.
package messages

//go:generate protoc --go_out=. --go_opt=paths=source_relative --connect-go_out=. --connect-go_opt=paths=source_relative kaquan.proto service.proto
