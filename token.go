package kaquan

import (
	"context"
	"errors"
	"fmt"

	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// PutToken stores the record of a bearer token under the token's SHA-256 (the network service's
// credentials; the engine never sees a token itself).
//
// On a cluster node the record lives in the token's home slot (slot.Layout.OfToken) and is
// written and read there: a token is valid on every node once PutToken returns. A revocation
// (a record that says so) is seen by a server that cached the token within its cache's time.
func (e *Engine) PutToken(ctx context.Context, hash [32]byte, rec *messages.TokenRecord) error {
	if s := e.tokenSlot(hash); e.cluster != nil && !e.cluster.Owns(s) {
		if e.link == nil {
			return e.ownsSlot(s, "token")
		}
		_, err := e.ask(ctx, e.cluster.NodeOf(s), &messages.NodeCall{Op: &messages.NodeCall_TokenPut{TokenPut: &messages.TokenPutCall{Hash: hash[:], Record: rec}}})
		return err
	}
	end, err := e.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	v, err := proto.Marshal(rec)
	if err != nil {
		return err
	}
	return e.put(persistence.Entry{Key: persistence.TokenKey(hash), Value: v})
}

// Token reads the record of the token whose SHA-256 is hash.
func (e *Engine) Token(ctx context.Context, hash [32]byte) (*messages.TokenRecord, error) {
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	v, err := e.readRecord(ctx, e.tokenSlot(hash), persistence.TokenKey(hash))
	if errors.Is(err, persistence.ErrNotFound) {
		return nil, fmt.Errorf("%w: token", ErrUnknownEntity)
	}
	if err != nil {
		return nil, err
	}
	rec := &messages.TokenRecord{}
	if err := proto.Unmarshal(v, rec); err != nil {
		return nil, fmt.Errorf("token record: %w", err)
	}
	return rec, nil
}

// tokenSlot is the home slot of a token (0 on a single node).
func (e *Engine) tokenSlot(hash [32]byte) uint32 {
	if e.cluster == nil {
		return 0
	}
	return e.cluster.OfToken(hash)
}
