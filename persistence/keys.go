package persistence

import (
	"encoding/binary"
	"fmt"
)

// Key prefixes: one byte per record kind, then big-endian ids, so prefix scans come out in id order.
const (
	PrefixParty        byte = 'u' // u + party id -> messages.Party
	PrefixAccount      byte = 'a' // a + account id -> messages.Account
	PrefixLedger       byte = 'l' // l + account id + seq -> messages.LedgerEntry
	PrefixTemplate     byte = 't' // t + template id -> messages.Template
	PrefixClaimCount   byte = 'n' // n + template id + user id -> uint32 claims
	PrefixCard         byte = 'c' // c + card id -> messages.Card
	PrefixCardCode     byte = 'k' // k + card code -> card id
	PrefixWallet       byte = 'w' // w + user id + card id -> empty
	PrefixPaymentCode  byte = 'q' // q + payment code -> messages.PaymentCode (routes to the account; records its use)
	PrefixCodeExpiry   byte = 'e' // e + expires_at + payment code -> empty (when each code record may go, oldest first)
	PrefixPayment      byte = 'p' // p + payment key -> messages.Payment
	PrefixTransfer     byte = 'r' // r + account id + transfer -> ledger seq (one entry per account per transfer), or a refusal (Refusal)
	PrefixGift         byte = 'g' // g + card id + seq -> messages.GiftRecord (the card's image library)
	PrefixImage        byte = 'i' // i + image id (hex SHA-256) -> messages.StoredImage
	PrefixImageChunk   byte = 'j' // j + image id + chunk index -> up to ImageChunkBytes of the image
	PrefixGiftOffer    byte = 'o' // o + expires_at + card id -> empty (offer time-outs, oldest first)
	PrefixPoolEntry    byte = 's' // s + owner + ^shared_at + card id -> messages.PoolEntry (newest first)
	PrefixContact      byte = 'x' // x + user + contact -> empty (written in both directions at once)
	PrefixReward       byte = 'v' // v + sharer + use id -> messages.Reward
	PrefixRewardClaim  byte = 'y' // y + template + claim key -> card id (a reward card is claimed once)
	PrefixAcceptance   byte = 'A' // A + acceptor + issuer -> messages.Acceptance (a merchant's consent to take another's cards)
	PrefixToken        byte = 'T' // T + SHA-256 of a bearer token -> messages.TokenRecord (the token itself is never stored)
	PrefixEngineMarker byte = 'z' // z + name -> engine metadata (clean shutdown marker)
)

func id8(b []byte, id uint64) []byte { return binary.BigEndian.AppendUint64(b, id) }

// PartyKey is the key of a user or merchant.
func PartyKey(id uint64) []byte { return id8([]byte{PrefixParty}, id) }

// AccountKey is the key of an account's metadata.
func AccountKey(id uint64) []byte { return id8([]byte{PrefixAccount}, id) }

// LedgerKey is the key of one ledger entry of an account.
func LedgerKey(account, seq uint64) []byte {
	return id8(id8([]byte{PrefixLedger}, account), seq)
}

// LedgerPrefix is the prefix of all ledger entries of an account.
func LedgerPrefix(account uint64) []byte { return id8([]byte{PrefixLedger}, account) }

// TemplateKey is the key of a card template.
func TemplateKey(id uint64) []byte { return id8([]byte{PrefixTemplate}, id) }

// ClaimCountKey is the key of how many cards a user claimed from a template.
func ClaimCountKey(template, user uint64) []byte {
	return id8(id8([]byte{PrefixClaimCount}, template), user)
}

// CardKey is the key of a card.
func CardKey(id uint64) []byte { return id8([]byte{PrefixCard}, id) }

// CardCodeKey is the key of a card-code index entry.
func CardCodeKey(code string) []byte { return append([]byte{PrefixCardCode}, code...) }

// WalletKey is the key of one card in a user's wallet.
func WalletKey(user, card uint64) []byte { return id8(id8([]byte{PrefixWallet}, user), card) }

// WalletPrefix is the prefix of a user's wallet.
func WalletPrefix(user uint64) []byte { return id8([]byte{PrefixWallet}, user) }

// PaymentCodeKey is the key of the payment-code index entry.
func PaymentCodeKey(code string) []byte { return append([]byte{PrefixPaymentCode}, code...) }

// CodeExpiryKey is the key of a payment code's expiry index entry. expiresAt is unix ns (never
// negative).
func CodeExpiryKey(expiresAt int64, code string) []byte {
	return append(id8([]byte{PrefixCodeExpiry}, uint64(expiresAt)), code...)
}

// PaymentKey is the key of a payment record.
func PaymentKey(key string) []byte { return append([]byte{PrefixPayment}, key...) }

// TransferKey is the key recording which ledger entry of an account belongs to a transfer.
func TransferKey(account uint64, transfer string) []byte {
	return append(id8([]byte{PrefixTransfer}, account), transfer...)
}

// GiftKey is the key of one entry of a card's gift library.
func GiftKey(card uint64, seq uint32) []byte {
	return binary.BigEndian.AppendUint32(id8([]byte{PrefixGift}, card), seq)
}

// GiftPrefix is the prefix of a card's gift library.
func GiftPrefix(card uint64) []byte { return id8([]byte{PrefixGift}, card) }

// ImageKey is the key of a stored gift image.
func ImageKey(id string) []byte { return append([]byte{PrefixImage}, id...) }

// ImageChunkBytes is the size of an image chunk (the last may be shorter).
const ImageChunkBytes = 256 << 10

// ImageChunkKey is the key of one chunk of a stored gift image.
func ImageChunkKey(id string, chunk uint32) []byte {
	return binary.BigEndian.AppendUint32(append([]byte{PrefixImageChunk}, id...), chunk)
}

// GiftOfferKey is the key of a pending offer's time-out. expiresAt is unix ns (never negative).
func GiftOfferKey(expiresAt int64, card uint64) []byte {
	return id8(id8([]byte{PrefixGiftOffer}, uint64(expiresAt)), card)
}

// PoolEntryKey is the key of a card in its owner's pool; newer cards sort first.
func PoolEntryKey(owner uint64, sharedAt int64, card uint64) []byte {
	return id8(id8(id8([]byte{PrefixPoolEntry}, owner), ^uint64(sharedAt)), card)
}

// PoolPrefix is the prefix of a user's pool.
func PoolPrefix(owner uint64) []byte { return id8([]byte{PrefixPoolEntry}, owner) }

// ContactKey is the key of one direction of a contact relation.
func ContactKey(user, contact uint64) []byte { return id8(id8([]byte{PrefixContact}, user), contact) }

// ContactPrefix is the prefix of a user's contacts.
func ContactPrefix(user uint64) []byte { return id8([]byte{PrefixContact}, user) }

// RewardKey is the key of the reward one use earned its sharer.
func RewardKey(sharer uint64, useID string) []byte {
	return append(id8([]byte{PrefixReward}, sharer), useID...)
}

// RewardPrefix is the prefix of a sharer's rewards.
func RewardPrefix(sharer uint64) []byte { return id8([]byte{PrefixReward}, sharer) }

// RewardClaimKey is the key recording the card a reward claim key obtained from a template.
func RewardClaimKey(template uint64, key string) []byte {
	return append(id8([]byte{PrefixRewardClaim}, template), key...)
}

// TokenKey is the key of a bearer token's record, by the token's SHA-256.
func TokenKey(hash [32]byte) []byte { return append([]byte{PrefixToken}, hash[:]...) }

// MarkerKey is the key of an engine marker.
func MarkerKey(name string) []byte { return append([]byte{PrefixEngineMarker}, name...) }

// Uint64 encodes a small numeric value.
func Uint64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// Refusal is the transfer index value of a transfer the account refused (or recovery fenced): one
// byte, the refusal's code, so that it is never taken for a ledger seq (8 bytes).
func Refusal(code byte) []byte { return []byte{code} }

// ParseRefusal decodes a value written by Refusal; ok is false for any other value.
func ParseRefusal(b []byte) (byte, bool) {
	if len(b) != 1 {
		return 0, false
	}
	return b[0], true
}

// ParseUint64 decodes a value written by Uint64; ok is false for a malformed value.
func ParseUint64(b []byte) (uint64, bool) {
	if len(b) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}

// The key parsers read back the ids a key builder took. They are for keys a prefix scan returned;
// a key of another kind or length is a bug, and they panic on it.

// WalletCardOf is the card of a WalletKey.
func WalletCardOf(key []byte) uint64 {
	_, card := idPairOf(key, PrefixWallet, "wallet")
	return card
}

// ContactOf is the contact of a ContactKey (the user is the prefix scanned).
func ContactOf(key []byte) uint64 {
	_, contact := idPairOf(key, PrefixContact, "contact")
	return contact
}

// GiftOfferOf is the time-out (unix ns) and the card of a GiftOfferKey.
func GiftOfferOf(key []byte) (expiresAt int64, card uint64) {
	expires, card := idPairOf(key, PrefixGiftOffer, "gift offer")
	return int64(expires), card
}

// CodeExpiryOf is the expiry (unix ns) and the payment code of a CodeExpiryKey.
func CodeExpiryOf(key []byte) (expiresAt int64, code string) {
	if len(key) < 9 || key[0] != PrefixCodeExpiry {
		panic(fmt.Sprintf("persistence: %x is not a code expiry key", key))
	}
	return int64(binary.BigEndian.Uint64(key[1:9])), string(key[9:])
}

// idPairOf reads the two ids of a key built as prefix + id + id.
func idPairOf(key []byte, prefix byte, kind string) (first, second uint64) {
	if len(key) != 17 || key[0] != prefix {
		panic(fmt.Sprintf("persistence: %x is not a %s key", key, kind))
	}
	return binary.BigEndian.Uint64(key[1:9]), binary.BigEndian.Uint64(key[9:])
}

// AcceptanceKey is the key of merchant acceptor's acceptance of issuer's cards.
func AcceptanceKey(acceptor, issuer uint64) []byte { return id8(AcceptancePrefix(acceptor), issuer) }

// AcceptancePrefix is the prefix of the acceptances merchant acceptor recorded.
func AcceptancePrefix(acceptor uint64) []byte { return id8([]byte{PrefixAcceptance}, acceptor) }

// AcceptanceOfKey reads acceptor and issuer back from an acceptance key; ok is false for a key of
// another kind or length (the audit reports it rather than stop on it).
func AcceptanceOfKey(key []byte) (acceptor, issuer uint64, ok bool) {
	if len(key) != 17 || key[0] != PrefixAcceptance {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(key[1:9]), binary.BigEndian.Uint64(key[9:]), true
}
