package kaquan

import (
	"context"
	"errors"
	"fmt"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/account"
	"github.com/kaquan/kaquan/actors/card"
	"github.com/kaquan/kaquan/actors/payment"
	"github.com/kaquan/kaquan/actors/template"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
)

// nodeLink carries node calls to the other nodes of a cluster (the transport). Call returns the
// owner's reply, or an error when the node could not be asked or did not answer in time
// (ErrUnavailable: the caller may retry with the same key).
type nodeLink interface {
	Call(ctx context.Context, node uint32, call *messages.NodeCall) (*messages.NodeReply, error)
}

// recordScanMax bounds the records one RecordScan returns.
const recordScanMax = 10_000

// forward runs an entity call on the node that owns the entity.
func (e *Engine) forward(ctx context.Context, id actors.ID, msg any) (any, error) {
	nc, err := encodeCall(id, msg)
	if err != nil {
		return nil, err
	}
	s, ok := e.cluster.Of(id)
	if !ok {
		return nil, fmt.Errorf("%w: %v has no slot", ErrInvalidArgument, id)
	}
	return e.ask(ctx, e.cluster.NodeOf(s), nc)
}

// ask sends nc to node and decodes its reply.
func (e *Engine) ask(ctx context.Context, node uint32, nc *messages.NodeCall) (any, error) {
	r, err := e.link.Call(ctx, node, nc)
	if err != nil {
		return nil, err
	}
	return decodeReply(r)
}

// toPartyNode runs nc on the node of party's slot, when notHere (ownsParty's refusal) says the
// party is another node's and this node reaches the others; else it answers notHere.
func (e *Engine) toPartyNode(ctx context.Context, notHere error, party uint64, nc *messages.NodeCall) (any, error) {
	if e.link == nil || !errors.Is(notHere, ErrWrongNode) {
		return nil, notHere
	}
	return e.ask(ctx, e.cluster.NodeOf(e.cluster.OfParty(party)), nc)
}

// readRecord reads key of slot s: from this node's store, or from the node that owns s.
func (e *Engine) readRecord(ctx context.Context, s uint32, key []byte) ([]byte, error) {
	switch {
	case e.cluster == nil || e.cluster.Owns(s):
		return e.store.Get(key)
	case e.link == nil:
		return nil, e.ownsSlot(s, "record")
	}
	v, err := forwarded[*messages.RecordValue](e.ask(ctx, e.cluster.NodeOf(s), &messages.NodeCall{Op: &messages.NodeCall_Read{Read: &messages.RecordRead{Slot: s, Key: key}}}))
	if err != nil {
		return nil, err
	}
	if !v.GetFound() {
		return nil, persistence.ErrNotFound
	}
	return v.Value, nil
}

// serveNodeCall answers a call another node forwarded: an entity call goes to the entity, which
// must live here (ErrWrongNode otherwise, as for any misrouted call); a record read must be of a
// slot this node owns and of a record the engine reads itself. It never panics on what it is sent.
func (e *Engine) serveNodeCall(ctx context.Context, nc *messages.NodeCall) *messages.NodeReply {
	if nc == nil {
		return encodeReply(nil, fmt.Errorf("%w: empty node call", ErrInvalidArgument))
	}
	switch op := nc.Op.(type) {
	case *messages.NodeCall_Read:
		return encodeReply(e.serveRead(op.Read))
	case *messages.NodeCall_Scan:
		return encodeReply(e.serveScan(op.Scan))
	case *messages.NodeCall_PartyCreate:
		if err := e.ownsParty(op.PartyCreate.Id); err != nil { // never forwarded on
			return encodeReply(nil, err)
		}
		return encodeReply(e.CreateParty(ctx, CreateParty{ID: op.PartyCreate.Id, Kind: op.PartyCreate.Kind, Name: op.PartyCreate.Name}))
	case *messages.NodeCall_TokenPut:
		t := op.TokenPut
		if len(t.Hash) != 32 || t.Record == nil {
			return encodeReply(nil, fmt.Errorf("%w: a token record needs a 32-byte hash and a record", ErrInvalidArgument))
		}
		h := [32]byte(t.Hash)
		if err := e.ownsSlot(e.cluster.OfToken(h), "token"); err != nil { // never forwarded on
			return encodeReply(nil, err)
		}
		return encodeReply(nil, e.PutToken(ctx, h, t.Record))
	case *messages.NodeCall_AcceptanceChange:
		c := op.AcceptanceChange
		if err := e.ownsParty(c.Acceptor); err != nil { // never forwarded on
			return encodeReply(nil, err)
		}
		if c.State != AcceptanceGranted && c.State != AcceptanceRevoked {
			return encodeReply(nil, fmt.Errorf("%w: acceptance state %s", ErrInvalidArgument, c.State))
		}
		return encodeReply(e.changeAcceptance(ctx, c.Acceptor, c.Issuer, c.State))
	case *messages.NodeCall_NotifySecret:
		c := op.NotifySecret
		if err := e.ownsParty(c.Merchant); err != nil { // never forwarded on
			return encodeReply(nil, err)
		}
		return encodeReply(nil, e.SetNotifySecret(ctx, SetNotifySecret{Merchant: c.Merchant, Secret: c.Secret}))
	case *messages.NodeCall_AcceptanceCopy:
		return encodeReply(nil, e.copyAcceptance(ctx, op.AcceptanceCopy.Record))
	}
	id, msg, err := decodeCall(nc)
	if err != nil {
		return encodeReply(nil, err)
	}
	if err := e.owns(id); err != nil { // never forwarded on: one hop, or a misroute
		return encodeReply(nil, err)
	}
	return encodeReply(e.call(ctx, id, msg))
}

// readable are the prefixes of the records a node reads on another's behalf, and scannable those
// it lists.
var (
	readable = map[byte]bool{persistence.PrefixParty: true, persistence.PrefixPaymentCode: true,
		persistence.PrefixCardCode: true, persistence.PrefixToken: true}
	scannable = map[byte]bool{persistence.PrefixWallet: true}
)

func (e *Engine) serveRead(r *messages.RecordRead) (any, error) {
	if err := e.checkRecord(r.Slot, r.Key, readable); err != nil {
		return nil, err
	}
	v, err := e.store.Get(r.Key)
	if errors.Is(err, persistence.ErrNotFound) {
		return &messages.RecordValue{}, nil
	}
	if err != nil {
		return nil, err
	}
	return &messages.RecordValue{Found: true, Value: v}, nil
}

func (e *Engine) serveScan(r *messages.RecordScan) (any, error) {
	if err := e.checkRecord(r.Slot, r.Prefix, scannable); err != nil {
		return nil, err
	}
	limit := int(min(r.Limit, recordScanMax))
	page := &messages.RecordPage{}
	err := e.store.Scan(r.Prefix, false, func(k, v []byte) (bool, error) {
		if len(page.Keys) >= limit {
			return false, nil
		}
		page.Keys, page.Values = append(page.Keys, append([]byte(nil), k...)), append(page.Values, append([]byte(nil), v...))
		return true, nil
	})
	return page, err
}

func (e *Engine) checkRecord(s uint32, key []byte, prefixes map[byte]bool) error {
	switch {
	case e.cluster == nil:
		return fmt.Errorf("%w: not a cluster node", ErrInvalidArgument)
	case len(key) == 0 || len(key) > persistence.KeyBytesMax || !prefixes[key[0]]:
		return fmt.Errorf("%w: not a record a node reads for another", ErrInvalidArgument)
	}
	return e.ownsSlot(s, "record")
}

// encodeCall is the node call of entity call msg to id.
func encodeCall(id actors.ID, msg any) (*messages.NodeCall, error) {
	nc := &messages.NodeCall{Kind: uint32(id.Kind), Num: id.Num, Str: id.Str}
	switch m := msg.(type) {
	case account.Create:
		nc.Op = &messages.NodeCall_AccountCreate{AccountCreate: &messages.AccountCreateCall{Owner: m.Owner, Kind: m.Kind, Now: m.Now}}
	case account.Transfer:
		nc.Op = &messages.NodeCall_AccountTransfer{AccountTransfer: &messages.AccountTransferCall{Key: m.Key, Amount: m.Amount, Now: m.Now}}
	case account.Get:
		nc.Op = &messages.NodeCall_AccountGet{AccountGet: &messages.AccountGetCall{}}
	case account.SetStatus:
		nc.Op = &messages.NodeCall_AccountSetStatus{AccountSetStatus: &messages.AccountSetStatusCall{Status: m.Status}}
	case account.IssueCode:
		nc.Op = &messages.NodeCall_AccountIssueCode{AccountIssueCode: &messages.AccountIssueCodeCall{Owner: m.Owner, Code: m.Code, Card: m.Card, Now: m.Now}}
	case card.Get:
		nc.Op = &messages.NodeCall_CardGet{CardGet: &messages.CardGetCall{}}
	case card.Void:
		nc.Op = &messages.NodeCall_CardVoid{CardVoid: &messages.CardVoidCall{Merchant: m.Merchant}}
	case card.Expire:
		nc.Op = &messages.NodeCall_CardExpire{CardExpire: &messages.CardExpireCall{Now: m.Now}}
	case payment.Pay:
		nc.Op = &messages.NodeCall_PaymentPay{PaymentPay: &messages.PaymentPayCall{Merchant: m.Merchant, MerchantAccount: m.MerchantAccount,
			Code: m.Code, Amount: m.Amount, Now: m.Now, PayerAccount: m.PayerAccount}}
	case payment.Refund:
		nc.Op = &messages.NodeCall_PaymentRefund{PaymentRefund: &messages.PaymentRefundCall{Merchant: m.Merchant, Now: m.Now}}
	case payment.Get:
		nc.Op = &messages.NodeCall_PaymentGet{PaymentGet: &messages.PaymentGetCall{}}
	case template.Create:
		nc.Op = &messages.NodeCall_TemplateCreate{TemplateCreate: &messages.TemplateCreateCall{Template: m.Template, Now: m.Now}}
	case template.Get:
		nc.Op = &messages.NodeCall_TemplateGet{TemplateGet: &messages.TemplateGetCall{}}
	case template.Claim:
		nc.Op = &messages.NodeCall_TemplateClaim{TemplateClaim: &messages.TemplateClaimCall{User: m.User, Code: m.Code, Now: m.Now}}
	default:
		return nil, fmt.Errorf("%w: %T does not cross nodes yet", ErrNotInCluster, msg)
	}
	return nc, nil
}

// decodeCall is the entity call a node call carries.
func decodeCall(nc *messages.NodeCall) (actors.ID, any, error) {
	id := actors.ID{Kind: actors.Kind(nc.Kind), Num: nc.Num, Str: nc.Str}
	if nc.Kind > 255 {
		return id, nil, fmt.Errorf("%w: entity kind %d", ErrInvalidArgument, nc.Kind)
	}
	var msg any
	var want actors.Kind
	switch op := nc.Op.(type) {
	case *messages.NodeCall_AccountCreate:
		want, msg = actors.KindAccount, account.Create{Owner: op.AccountCreate.Owner, Kind: op.AccountCreate.Kind, Now: op.AccountCreate.Now}
	case *messages.NodeCall_AccountTransfer:
		want, msg = actors.KindAccount, account.Transfer{Key: op.AccountTransfer.Key, Amount: op.AccountTransfer.Amount, Now: op.AccountTransfer.Now}
	case *messages.NodeCall_AccountGet:
		want, msg = actors.KindAccount, account.Get{}
	case *messages.NodeCall_AccountSetStatus:
		want, msg = actors.KindAccount, account.SetStatus{Status: op.AccountSetStatus.Status}
	case *messages.NodeCall_AccountIssueCode:
		c := op.AccountIssueCode
		want, msg = actors.KindAccount, account.IssueCode{Owner: c.Owner, Code: c.Code, Card: c.Card, Now: c.Now}
	case *messages.NodeCall_CardGet:
		want, msg = actors.KindCard, card.Get{}
	case *messages.NodeCall_CardVoid:
		want, msg = actors.KindCard, card.Void{Merchant: op.CardVoid.Merchant}
	case *messages.NodeCall_CardExpire:
		want, msg = actors.KindCard, card.Expire{Now: op.CardExpire.Now}
	case *messages.NodeCall_PaymentPay:
		c := op.PaymentPay
		want, msg = actors.KindPayment, payment.Pay{Merchant: c.Merchant, MerchantAccount: c.MerchantAccount, Code: c.Code,
			Amount: c.Amount, Now: c.Now, PayerAccount: c.PayerAccount}
	case *messages.NodeCall_PaymentRefund:
		want, msg = actors.KindPayment, payment.Refund{Merchant: op.PaymentRefund.Merchant, Now: op.PaymentRefund.Now}
	case *messages.NodeCall_PaymentGet:
		want, msg = actors.KindPayment, payment.Get{}
	case *messages.NodeCall_TemplateCreate:
		if op.TemplateCreate.Template == nil {
			return id, nil, fmt.Errorf("%w: no template", ErrInvalidArgument)
		}
		want, msg = actors.KindTemplate, template.Create{Template: op.TemplateCreate.Template, Now: op.TemplateCreate.Now}
	case *messages.NodeCall_TemplateGet:
		want, msg = actors.KindTemplate, template.Get{}
	case *messages.NodeCall_TemplateClaim:
		c := op.TemplateClaim
		want, msg = actors.KindTemplate, template.Claim{User: c.User, Code: c.Code, Now: c.Now}
	default:
		return id, nil, fmt.Errorf("%w: unknown node call %T", ErrInvalidArgument, nc.Op)
	}
	if id.Kind != want {
		return id, nil, fmt.Errorf("%w: %T for a %s", ErrInvalidArgument, msg, id.Kind)
	}
	return id, msg, nil
}

// encodeReply is the reply of a call answered v and err.
func encodeReply(v any, err error) *messages.NodeReply {
	r := &messages.NodeReply{}
	if err != nil {
		r.Reason, r.Error = Reason(err), err.Error()
		var ce *CardError
		if errors.As(err, &ce) {
			r.CardReason = ce.Reason
		}
		return r
	}
	switch v := v.(type) {
	case nil:
	case *messages.Account:
		r.Result = &messages.NodeReply_Account{Account: v}
	case *messages.LedgerEntry:
		r.Result = &messages.NodeReply_Entry{Entry: v}
	case account.Snapshot:
		r.Result = &messages.NodeReply_Snapshot{Snapshot: &messages.AccountSnapshot{Account: v.Account, Balance: v.Balance, Seq: v.Seq}}
	case *messages.PaymentCode:
		r.Result = &messages.NodeReply_PaymentCode{PaymentCode: v}
	case *messages.Card:
		r.Result = &messages.NodeReply_Card{Card: v}
	case payment.Outcome:
		r.Result = &messages.NodeReply_Outcome{Outcome: &messages.PaymentOutcome{Payment: v.Payment, Duplicate: v.Duplicate}}
	case *messages.Template:
		r.Result = &messages.NodeReply_Template{Template: v}
	case *messages.Party:
		r.Result = &messages.NodeReply_Party{Party: v}
	case *messages.Acceptance:
		r.Result = &messages.NodeReply_Acceptance{Acceptance: v}
	case *messages.RecordValue:
		r.Result = &messages.NodeReply_Value{Value: v}
	case *messages.RecordPage:
		r.Result = &messages.NodeReply_Page{Page: v}
	default:
		r.Reason, r.Error = Reason(ErrInvalidArgument), fmt.Sprintf("a node call answered %T, which does not cross nodes", v)
	}
	return r
}

// decodeReply is the answer and error a reply carries. An error comes back as the typed error its
// reason names (a card's with its reason), so errors.Is holds across nodes as on one.
func decodeReply(r *messages.NodeReply) (any, error) {
	var v any
	switch res := r.Result.(type) {
	case nil:
	case *messages.NodeReply_Account:
		v = res.Account
	case *messages.NodeReply_Entry:
		v = res.Entry
	case *messages.NodeReply_Snapshot:
		v = account.Snapshot{Account: res.Snapshot.Account, Balance: res.Snapshot.Balance, Seq: res.Snapshot.Seq}
	case *messages.NodeReply_PaymentCode:
		v = res.PaymentCode
	case *messages.NodeReply_Card:
		v = res.Card
	case *messages.NodeReply_Outcome:
		if res.Outcome.Payment == nil { // every outcome is a payment's: callers read its state
			return nil, fmt.Errorf("%w: a node answered an outcome without its payment", ErrUnavailable)
		}
		v = payment.Outcome{Payment: res.Outcome.Payment, Duplicate: res.Outcome.Duplicate}
	case *messages.NodeReply_Template:
		v = res.Template
	case *messages.NodeReply_Party:
		v = res.Party
	case *messages.NodeReply_Acceptance:
		v = res.Acceptance
	case *messages.NodeReply_Value:
		v = res.Value
	case *messages.NodeReply_Page:
		v = res.Page
	default:
		return nil, fmt.Errorf("%w: a node answered %T", ErrUnavailable, r.Result)
	}
	if r.Reason == "" {
		return v, nil
	}
	if r.CardReason != messages.CardReason_CARD_REASON_UNSPECIFIED {
		return v, fmt.Errorf("%s: %w", r.Error, &CardError{Reason: r.CardReason})
	}
	typed := ReasonError(r.Reason)
	if typed == nil {
		return v, fmt.Errorf("%s (another node's error)", r.Error)
	}
	return v, fmt.Errorf("%w (another node: %s)", typed, r.Error)
}

// forwarded is a forwarded call's answer as the T its local call answers.
func forwarded[T any](v any, err error) (T, error) {
	if err != nil {
		var zero T
		return zero, err
	}
	t, ok := as[T](v)
	if !ok {
		return t, fmt.Errorf("%w: a node answered %T, want %T", ErrUnavailable, v, t)
	}
	return t, nil
}
