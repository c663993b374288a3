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
func (e *Engine) PutToken(ctx context.Context, hash [32]byte, rec *messages.TokenRecord) error {
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
	rec := &messages.TokenRecord{}
	err = e.store.GetProto(persistence.TokenKey(hash), rec)
	if errors.Is(err, persistence.ErrNotFound) {
		return nil, fmt.Errorf("%w: token", ErrUnknownEntity)
	}
	return rec, err
}
