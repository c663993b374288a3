package actors

// Limits of the domain. Amounts are int64 minor units.
const (
	AmountMax                 int64 = 1_000_000_000_000_000 // one payment, deposit or withdrawal
	BalanceMax                int64 = 1 << 62               // one account's balance
	PaymentCodesPerAccountMax       = 16                    // active (unused, unexpired) codes per account
	PaymentCodeDigits               = 18
	IdempotencyKeyBytesMax          = 64
	NameBytesMax                    = 128
	AcceptedMerchantsMax            = 256
	TemplateStockMax                = 1<<32 - 1
	ValidDaysMax                    = 3660
	DiscountBasisPointsMax          = 9999
)
