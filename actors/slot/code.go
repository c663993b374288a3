package slot

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"io"
	"math/big"

	"github.com/kaquan/kaquan/actors"
)

// paymentCodeSpace is 10^18, the number of 18-digit codes; every S allowed divides it (S <= 2^18).
const paymentCodeSpace uint64 = 1_000_000_000_000_000_000

// cardCodeBytes is the randomness behind a card code: 10 bytes, 16 base32 characters
// (actors.NewCardCode's shape).
const cardCodeBytes = 10

// NewPaymentCode draws a payment code of slot s from crypto/rand: 18 decimal digits, uniformly
// random among the 10^18/S codes ≡ s (mod S), about 54 random bits at S = 64. Any node reads the
// slot back from the digits (SlotOfPaymentCode) with no lookup.
func (l Layout) NewPaymentCode(s uint32) string { return l.newPaymentCode(rand.Reader, s) }

func (l Layout) newPaymentCode(r io.Reader, s uint32) string {
	actors.Invariant(s < l.Slots, "payment code for a slot of the layout")
	k, err := rand.Int(r, new(big.Int).SetUint64(paymentCodeSpace/uint64(l.Slots)))
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return fmt.Sprintf("%0*d", actors.PaymentCodeDigits, k.Uint64()*uint64(l.Slots)+uint64(s))
}

// SlotOfPaymentCode is the slot a payment code carries: its value mod S. False for a string
// that is not a payment code (actors.IsPaymentCode).
func (l Layout) SlotOfPaymentCode(code string) (uint32, bool) {
	if !actors.IsPaymentCode(code) {
		return 0, false
	}
	var n uint64
	for i := range len(code) {
		n = n*10 + uint64(code[i]-'0')
	}
	return uint32(n & l.mask()), true
}

// NewCardCode draws a card code of slot s from crypto/rand, in actors.NewCardCode's shape (16
// base32 characters of 10 bytes): the 80-bit big-endian value is uniformly random among those
// ≡ s (mod S), so 80 - log2(S) random bits (74 at S = 64).
func (l Layout) NewCardCode(s uint32) string { return l.newCardCode(rand.Reader, s) }

func (l Layout) newCardCode(r io.Reader, s uint32) string {
	actors.Invariant(s < l.Slots, "card code for a slot of the layout")
	var b [cardCodeBytes]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	// S <= 4096: the residue lives in the last two bytes.
	low := uint32(b[8])<<8 | uint32(b[9])
	low = low&^uint32(l.mask()) | s
	b[8], b[9] = byte(low>>8), byte(low)
	return base32.StdEncoding.EncodeToString(b[:])
}

// SlotOfCardCode is the slot a card code carries: its 80-bit value mod S. False for a string
// that is not 16 base32 characters.
func (l Layout) SlotOfCardCode(code string) (uint32, bool) {
	if len(code) != base32.StdEncoding.EncodedLen(cardCodeBytes) {
		return 0, false
	}
	b, err := base32.StdEncoding.DecodeString(code)
	if err != nil || len(b) != cardCodeBytes {
		return 0, false
	}
	return (uint32(b[8])<<8 | uint32(b[9])) & uint32(l.mask()), true
}
