package actors

import (
	"crypto/rand"
	"encoding/base32"
	"time"
)

// Limits of the domain. Amounts are int64 minor units.
const (
	AmountMax                 int64 = 1_000_000_000_000_000 // one payment, deposit or withdrawal
	BalanceMax                int64 = 1 << 62               // one account's balance
	PaymentCodesPerAccountMax       = 16                    // active (unused, unexpired) codes per account
	PaymentCodeDigits               = 18
	IdempotencyKeyBytesMax          = 64
	NameBytesMax                    = 128
	AcceptedMerchantsMax            = 256
	AcceptancesPerMerchantMax       = 1024 // issuers one merchant has an acceptance of (granted or revoked)
	TemplateStockMax                = 1<<32 - 1
	ValidDaysMax                    = 3660
	DiscountBasisPointsMax          = 9999
	GiftLimitMax                    = 1000 // a template's cap on how often one card may be gifted
	GiftMessageRunesMax             = 280  // characters of a gift's message
	GiftOfferTTLMin                 = time.Second
	GiftOfferTTLMax                 = 30 * 24 * time.Hour
	GiftOfferTTLDefault             = 24 * time.Hour
	PoolCardsMax                    = 1000 // cards in one user's pool
	ContactsMax                     = 5000 // contacts of one user
	PoolPageMax                     = 100  // cards in one page of a pool listing
	NotificationWindow              = 5 * time.Minute
	NotificationIDBytesMax          = 64
	NotifySecretBytesMin            = 16
	NotifySecretBytesMax            = 128
)

// IsPaymentCode reports whether code has the form of a payment code: PaymentCodeDigits ASCII digits.
func IsPaymentCode(code string) bool {
	if len(code) != PaymentCodeDigits {
		return false
	}
	for i := range len(code) {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// NewCardCode draws an unguessable 16-character card code (80 bits from crypto/rand).
func NewCardCode() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return base32.StdEncoding.EncodeToString(b[:])
}
