package node

import (
	"testing"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// bodies is one message of every body type an envelope carries, with fields set.
func bodies() []proto.Message {
	return []proto.Message{
		&messages.ConsumeCode{Code: "123456789012345678", Payment: "7/order-1", Now: 42},
		&messages.CodeConsumed{Result: messages.PaymentResult_PAYMENT_RESULT_OK, CardId: 9 << 32, PayerId: 3},
		&messages.ReserveCard{Payment: "7/order-1", PayerId: 3, MerchantId: 7, Amount: 3000, Now: 42},
		&messages.CardReserved{Discount: 500},
		&messages.UseCard{Payment: "7/order-1", Now: 43},
		&messages.ReleaseCard{Payment: "7/order-1", Now: 44},
		&messages.CardDone{},
		&messages.Post{Transfer: "pay:7/order-1", Amount: -2500, CounterAccount: 10, Now: 45, Force: true},
		&messages.Posted{Result: messages.PaymentResult_PAYMENT_RESULT_OK, Seq: 17},
		&messages.FindEntry{Transfer: "pay:7/order-1"},
		&messages.EntryFound{Found: true, Amount: -2500},
	}
}

func TestEnvelope_RoundTrip(t *testing.T) {
	ids := []actors.ID{actors.AccountID(1000), actors.CardID(9<<32 | 1), actors.PaymentID("7/order-1"), actors.TemplateID(9), actors.PoolID(3)}
	for i, body := range bodies() {
		to := ids[i%len(ids)]
		t.Run(string(proto.MessageName(body).Name()), func(t *testing.T) {
			env, ok := Wrap(to, body)
			if !ok {
				t.Fatalf("Wrap refused %T", body)
			}
			wire, err := proto.Marshal(env)
			if err != nil {
				t.Fatal(err)
			}
			back := &messages.EntityEnvelope{}
			if err := proto.Unmarshal(wire, back); err != nil {
				t.Fatal(err)
			}
			d, err := Unwrap(back)
			if err != nil {
				t.Fatalf("Unwrap: %v", err)
			}
			if d.To != to {
				t.Errorf("to: got %v, want %v", d.To, to)
			}
			got, ok := d.Msg.(proto.Message)
			if !ok || !proto.Equal(got, body) {
				t.Errorf("body: got %v, want %v", d.Msg, body)
			}
		})
	}
}

func TestEnvelope_Refused(t *testing.T) {
	to := actors.AccountID(1)
	if _, ok := Wrap(to, "text"); ok {
		t.Error("Wrap took a string")
	}
	if _, ok := Wrap(to, actors.NewCall(&messages.Post{})); ok {
		t.Error("Wrap took a call")
	}
	if _, ok := Wrap(to, (*messages.Post)(nil)); ok {
		t.Error("Wrap took a typed nil")
	}
	if _, ok := Wrap(to, &messages.Payment{}); ok {
		t.Error("Wrap took a record")
	}
	ref := &messages.EntityRef{Kind: uint32(actors.KindAccount), Num: 1}
	for _, tc := range []struct {
		name string
		env  *messages.EntityEnvelope
	}{
		{"no target", &messages.EntityEnvelope{Body: &messages.EntityEnvelope_CardDone{CardDone: &messages.CardDone{}}}},
		{"kind zero", &messages.EntityEnvelope{To: &messages.EntityRef{Num: 1}, Body: &messages.EntityEnvelope_CardDone{CardDone: &messages.CardDone{}}}},
		{"empty body", &messages.EntityEnvelope{To: ref}},
		{"nil body message", &messages.EntityEnvelope{To: ref, Body: &messages.EntityEnvelope_Post{}}},
		{"unknown body", unknownBody(t, ref)},
	} {
		if d, err := Unwrap(tc.env); err == nil {
			t.Errorf("%s: delivered %v", tc.name, d)
		}
	}
}

// unknownBody is an envelope as this build reads one from a newer build: a body in a field it
// does not know (99), which protobuf keeps as an unknown field, leaving the oneof empty.
func unknownBody(t *testing.T, to *messages.EntityRef) *messages.EntityEnvelope {
	t.Helper()
	wire, err := proto.Marshal(&messages.EntityEnvelope{To: to})
	if err != nil {
		t.Fatal(err)
	}
	wire = protowire.AppendTag(wire, 99, protowire.BytesType)
	wire = protowire.AppendBytes(wire, []byte{0x08, 0x01})
	env := &messages.EntityEnvelope{}
	if err := proto.Unmarshal(wire, env); err != nil {
		t.Fatal(err)
	}
	if len(env.ProtoReflect().GetUnknown()) == 0 {
		t.Fatal("the unknown field was not kept")
	}
	return env
}
