package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/messages/messagesconnect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// clientCommand is one everyday operation against a running server.
type clientCommand struct {
	help string
	// flags declares the command's flags; the returned function calls the server.
	flags func(fs *flag.FlagSet) func(ctx context.Context, c messagesconnect.KaquanServiceClient, m Main, base, token string) (proto.Message, error)
}

// clientCommands are the client subcommands, by name.
var clientCommands = map[string]clientCommand{
	"create-user":     {"create a user with an account (admin)", createParty(messages.PartyKind_PARTY_KIND_USER)},
	"create-merchant": {"create a merchant with an account (admin)", createParty(messages.PartyKind_PARTY_KIND_MERCHANT)},
	"create-token": {"create a bearer token for a user or merchant (admin)", func(fs *flag.FlagSet) clientCall {
		kind := fs.String("kind", "user", "user, merchant or admin")
		party := fs.Uint64("party", 0, "the user's or merchant's id")
		return func(ctx context.Context, c messagesconnect.KaquanServiceClient, _ Main, _, _ string) (proto.Message, error) {
			k := messages.PrincipalKind(messages.PrincipalKind_value["PRINCIPAL_KIND_"+strings.ToUpper(*kind)])
			return unwrap(c.CreateToken(ctx, connect.NewRequest(&messages.CreateTokenRequest{Kind: k, PartyId: *party})))
		}
	}},
	"deposit": {"deposit into an account (admin)", func(fs *flag.FlagSet) clientCall {
		account, amount, key := fs.Uint64("account", 0, "account id"), fs.Int64("amount", 0, "minor units"), fs.String("key", "", "idempotency key")
		return func(ctx context.Context, c messagesconnect.KaquanServiceClient, _ Main, _, _ string) (proto.Message, error) {
			return unwrap(c.Deposit(ctx, connect.NewRequest(&messages.TransferRequest{Account: *account, Amount: *amount, Key: *key})))
		}
	}},
	"create-template": {"create a card template (its merchant or admin); the template as protojson", func(fs *flag.FlagSet) clientCall {
		text := fs.String("template", "", `e.g. {"id":"7","merchantId":"1","kind":"TEMPLATE_KIND_CASH","reduceAmount":"500","leastCost":"2000","stockTotal":100,"perUserLimit":1,"validDays":30}`)
		return func(ctx context.Context, c messagesconnect.KaquanServiceClient, _ Main, _, _ string) (proto.Message, error) {
			t := &messages.Template{}
			if err := protojson.Unmarshal([]byte(*text), t); err != nil {
				return nil, fmt.Errorf("--template: %w", err)
			}
			return unwrap(c.CreateTemplate(ctx, connect.NewRequest(&messages.CreateTemplateRequest{Template: t})))
		}
	}},
	"claim": {"claim a card from a template", func(fs *flag.FlagSet) clientCall {
		tpl, user := fs.Uint64("template", 0, "template id"), fs.Uint64("user", 0, "user id")
		return func(ctx context.Context, c messagesconnect.KaquanServiceClient, _ Main, _, _ string) (proto.Message, error) {
			return unwrap(c.Claim(ctx, connect.NewRequest(&messages.ClaimRequest{Template: *tpl, User: *user})))
		}
	}},
	"wallet": {"list a user's cards", func(fs *flag.FlagSet) clientCall {
		user := fs.Uint64("user", 0, "user id")
		return func(ctx context.Context, c messagesconnect.KaquanServiceClient, _ Main, _, _ string) (proto.Message, error) {
			return unwrap(c.Wallet(ctx, connect.NewRequest(&messages.WalletRequest{User: *user})))
		}
	}},
	"payment-code": {"issue a payment code, optionally naming a card; --qr FILE saves it as a QR code", func(fs *flag.FlagSet) clientCall {
		user, account, card := fs.Uint64("user", 0, "user id"), fs.Uint64("account", 0, "the user's account"), fs.Uint64("card", 0, "card id (0: none)")
		qr := fs.String("qr", "", "write the code as a QR-code PNG here")
		return func(ctx context.Context, c messagesconnect.KaquanServiceClient, _ Main, base, token string) (proto.Message, error) {
			pc, err := unwrap(c.IssuePaymentCode(ctx, connect.NewRequest(&messages.IssuePaymentCodeRequest{User: *user, Account: *account, Card: *card})))
			if err == nil && *qr != "" {
				err = download(ctx, base+"/payment-codes/"+pc.(*messages.PaymentCode).Code+"/qr.png", token, *qr)
			}
			return pc, err
		}
	}},
	"pay": {"submit a payment with a payment code (merchant)", func(fs *flag.FlagSet) clientCall {
		merchant, account := fs.Uint64("merchant", 0, "merchant id"), fs.Uint64("account", 0, "the merchant's account")
		code, amount, key := fs.String("code", "", "the consumer's payment code"), fs.Int64("amount", 0, "minor units"), fs.String("key", "", "idempotency key")
		return func(ctx context.Context, c messagesconnect.KaquanServiceClient, _ Main, _, _ string) (proto.Message, error) {
			return unwrap(c.Pay(ctx, connect.NewRequest(&messages.PayRequest{Merchant: *merchant, MerchantAccount: *account, Code: *code, Amount: *amount, Key: *key})))
		}
	}},
	"gift": {"give a card to another user, with an optional image and message", func(fs *flag.FlagSet) clientCall {
		from, to, card := fs.Uint64("from", 0, "giver"), fs.Uint64("to", 0, "receiver"), fs.Uint64("card", 0, "card id")
		image, message, offer := fs.String("image", "", "greeting image file"), fs.String("message", "", "up to 280 characters"), fs.Bool("offer", false, "the receiver accepts or declines")
		return func(ctx context.Context, c messagesconnect.KaquanServiceClient, _ Main, _, _ string) (proto.Message, error) {
			var img []byte
			if *image != "" {
				var err error
				if img, err = os.ReadFile(*image); err != nil {
					return nil, err
				}
			}
			return unwrap(c.Gift(ctx, connect.NewRequest(&messages.GiftRequest{From: *from, To: *to, Card: *card, Image: img, Message: *message, Offer: *offer})))
		}
	}},
	"share": {"put a card into its owner's pool", func(fs *flag.FlagSet) clientCall {
		user, card := fs.Uint64("user", 0, "owner"), fs.Uint64("card", 0, "card id")
		return func(ctx context.Context, c messagesconnect.KaquanServiceClient, _ Main, _, _ string) (proto.Message, error) {
			return unwrap(c.Share(ctx, connect.NewRequest(&messages.ShareRequest{User: *user, Card: *card})))
		}
	}},
	"claim-shared": {"claim a card from a contact's pool", func(fs *flag.FlagSet) clientCall {
		claimer, sharer, card := fs.Uint64("user", 0, "claimer"), fs.Uint64("sharer", 0, "the pool's owner"), fs.Uint64("card", 0, "card id")
		return func(ctx context.Context, c messagesconnect.KaquanServiceClient, _ Main, _, _ string) (proto.Message, error) {
			return unwrap(c.ClaimShared(ctx, connect.NewRequest(&messages.ClaimSharedRequest{Claimer: *claimer, Sharer: *sharer, Card: *card})))
		}
	}},
}

type clientCall = func(ctx context.Context, c messagesconnect.KaquanServiceClient, m Main, base, token string) (proto.Message, error)

func createParty(kind messages.PartyKind) func(fs *flag.FlagSet) clientCall {
	return func(fs *flag.FlagSet) clientCall {
		id, name, account := fs.Uint64("id", 0, "party id"), fs.String("name", "", "display name (required)"), fs.Uint64("account", 0, "id of the party's account (0: none)")
		return func(ctx context.Context, c messagesconnect.KaquanServiceClient, _ Main, _, _ string) (proto.Message, error) {
			p, err := unwrap(c.CreateParty(ctx, connect.NewRequest(&messages.CreatePartyRequest{Id: *id, Kind: kind, Name: *name})))
			if err != nil || *account == 0 {
				return p, err
			}
			return unwrap(c.CreateAccount(ctx, connect.NewRequest(&messages.CreateAccountRequest{Id: *account, Owner: *id})))
		}
	}
}

func unwrap[T any, P interface {
	*T
	proto.Message
}](r *connect.Response[T], err error) (proto.Message, error) {
	if err != nil {
		return nil, err
	}
	return P(r.Msg), nil
}

// client runs one client subcommand and prints the answer as JSON.
func (m Main) client(ctx context.Context, name string, args []string) error {
	cmd := clientCommands[name]
	fs := m.newFlags(name)
	base := fs.String("server", "http://127.0.0.1:7070", "the server's URL")
	token := fs.String("token", "", "bearer token (better from KAQUAN_TOKEN)")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the answer")
	call := cmd.flags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c := messagesconnect.NewKaquanServiceClient(http.DefaultClient, strings.TrimRight(*base, "/"), connect.WithProtoJSON(),
		connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
			return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
				req.Header().Set("Authorization", "Bearer "+*token)
				return next(ctx, req)
			}
		})))
	res, err := call(ctx, c, m, strings.TrimRight(*base, "/"), *token)
	if err != nil {
		return err
	}
	b, err := protojson.MarshalOptions{Multiline: true, EmitUnpopulated: false}.Marshal(res)
	if err != nil {
		return err
	}
	fmt.Fprintln(m.Stdout, string(b))
	return nil
}

// download saves url (fetched with token) to path.
func download(ctx context.Context, url, token, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
