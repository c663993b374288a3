package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/kaquan/kaquan"
)

// The mixed scenario: a blend of operations (Config.Mix, e.g. "pay=60,gift=15,claim=15,wallet=10"),
// each on a user chosen with a Zipf skew (Config.Skew; 0 is uniform) among the client's users.
// Cards come from the merchants' gift templates, so they can be both paid with and gifted.

// DefaultMix is the blend used when Config.Mix is empty.
const DefaultMix = "pay=60,gift=15,claim=15,wallet=10"

// mixOps are the operations a blend may name.
var mixOps = []string{"pay", "gift", "claim", "wallet"}

// parseMix turns "op=weight,..." into cumulative weights in mixOps order.
func parseMix(mix string) ([]int, error) {
	if mix == "" {
		mix = DefaultMix
	}
	weights := make([]int, len(mixOps))
	for part := range strings.SplitSeq(mix, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(w)
		i := indexOf(mixOps, name)
		if !ok || err != nil || n < 0 || n > 1000 || i < 0 {
			return nil, fmt.Errorf("mix %q: want op=weight,... with ops %v and weights 0..1000", mix, mixOps)
		}
		weights[i] = n
	}
	total := 0
	for i, w := range weights {
		total += w
		weights[i] = total
	}
	if total == 0 {
		return nil, fmt.Errorf("mix %q: all weights are zero", mix)
	}
	return weights, nil
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}

// pick chooses one of the client's users: Zipf-skewed when the run asks for it.
func (c *client) pick() *benchUser {
	if c.zipf != nil {
		return &c.users[c.zipf.Uint64()]
	}
	return &c.users[c.rng.IntN(len(c.users))]
}

func (c *client) initMixed() error {
	if c.cfg.Scenario == "mixed" {
		w, err := parseMix(c.cfg.Mix)
		if err != nil {
			return err
		}
		c.mix = w
	}
	if c.cfg.Skew > 1 && len(c.users) > 1 {
		c.zipf = rand.NewZipf(c.rng, c.cfg.Skew, 1, uint64(len(c.users)-1))
	}
	return nil
}

// mixedOp runs one operation drawn from the blend.
func (c *client) mixedOp(ctx context.Context, ack *ackLog) error {
	r := c.rng.IntN(c.mix[len(c.mix)-1])
	op := 0
	for r >= c.mix[op] {
		op++
	}
	u := c.pick()
	switch mixOps[op] {
	case "claim":
		start := time.Now()
		if err := c.claimFrom(ctx, u, giftTemplateBase); err != nil {
			return err
		}
		_ = c.hist.RecordValue(time.Since(start).Microseconds())
		return nil
	case "wallet":
		start := time.Now()
		if _, err := c.e.WalletCards(ctx, u.id); err != nil {
			return err
		}
		_ = c.hist.RecordValue(time.Since(start).Microseconds())
		return nil
	case "gift":
		if len(c.users) < 2 {
			return errSkip
		}
		if len(u.cards) == 0 {
			if err := c.claimFrom(ctx, u, giftTemplateBase); err != nil {
				return err
			}
		}
		to := c.pick()
		for to == u {
			to = &c.users[c.rng.IntN(len(c.users))]
		}
		card := u.cards[len(u.cards)-1]
		start := time.Now()
		got, err := c.e.Gift(ctx, kaquan.Gift{From: u.id, To: to.id, Card: card, Message: "for you"})
		if err != nil {
			return err
		}
		_ = c.hist.RecordValue(time.Since(start).Microseconds())
		u.cards = u.cards[:len(u.cards)-1]
		to.cards = append(to.cards, card)
		if ack != nil {
			return ack.Append(kaquan.GiftAck(card, got.GiftCount, to.id))
		}
		return nil
	}
	if len(u.cards) == 0 {
		if err := c.claimFrom(ctx, u, giftTemplateBase); err != nil {
			return err
		}
	}
	return c.payWith(ctx, u, ack)
}
