package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"math/rand/v2"
	"time"

	"github.com/kaquan/kaquan"
)

// The gifts scenario: direct gifts among each client's users, each with a greeting image from a set
// of themeImages (about 64 KiB each), one in freshImageEvery with freshly uploaded unique bytes.
const (
	themeImages      = 100
	themeImageSide   = 128 // 128 x 128 RGBA noise: about 64 KiB of PNG
	freshImageEvery  = 10
	giftTemplateBase = 5_000_000 // gift template of merchant m: giftTemplateBase + m
)

// themes draws the theme images (deterministic, so reruns on one data folder reuse them).
func themes() ([][]byte, error) {
	out := make([][]byte, themeImages)
	for i := range out {
		rng := rand.New(rand.NewPCG(uint64(i), 42))
		img := image.NewNRGBA(image.Rect(0, 0, themeImageSide, themeImageSide))
		for p := range img.Pix {
			img.Pix[p] = byte(rng.Uint32())
		}
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			return nil, err
		}
		out[i] = b.Bytes()
	}
	return out, nil
}

// freshImage returns theme with a text chunk naming nonce after its header: a valid PNG whose bytes
// no other gift has, without encoding pixels again.
func freshImage(theme []byte, nonce string) []byte {
	const ihdrEnd = 8 + 25 // signature, then the IHDR chunk
	data := append([]byte("tEXtkaquan\x00"), nonce...)
	chunk := binary.BigEndian.AppendUint32(nil, uint32(len(data)-4))
	chunk = append(chunk, data...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(data))
	out := make([]byte, 0, len(theme)+len(chunk))
	out = append(out, theme[:ihdrEnd]...)
	out = append(out, chunk...)
	return append(out, theme[ihdrEnd:]...)
}

// gift is one operation of the gifts scenario: a user gives one of their cards to another of the
// client's users.
func (c *client) gift(ctx context.Context, ack *ackLog) error {
	if len(c.users) < 2 {
		return fmt.Errorf("%w: a gifts client needs two users", kaquan.ErrInvalidArgument)
	}
	from := &c.users[c.rng.IntN(len(c.users))]
	if len(from.cards) == 0 {
		if err := c.claimFrom(ctx, from, giftTemplateBase); err != nil {
			return err
		}
	}
	to := &c.users[c.rng.IntN(len(c.users))]
	for to == from {
		to = &c.users[c.rng.IntN(len(c.users))]
	}
	card := from.cards[len(from.cards)-1]
	img := c.themes[c.rng.IntN(len(c.themes))]
	c.n++
	if c.n%freshImageEvery == 0 {
		img = freshImage(img, fmt.Sprintf("%s-%d", c.run, c.n))
	}
	start := time.Now()
	got, err := c.e.Gift(ctx, kaquan.Gift{From: from.id, To: to.id, Card: card, Image: img, Message: "for you"})
	if err != nil {
		return err
	}
	_ = c.hist.RecordValue(time.Since(start).Microseconds())
	from.cards = from.cards[:len(from.cards)-1]
	to.cards = append(to.cards, card)
	if ack != nil {
		return ack.Append(kaquan.GiftAck(card, got.GiftCount, to.id))
	}
	return nil
}
