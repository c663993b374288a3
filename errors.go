package kaquan

import "github.com/kaquan/kaquan/actors"

// Errors every call may return; test them with errors.Is. A *CardError also matches
// ErrCardNotUsable and carries the reason.
var (
	ErrInvalidArgument       = actors.ErrInvalidArgument
	ErrUnknownEntity         = actors.ErrUnknownEntity
	ErrExists                = actors.ErrExists
	ErrInsufficientFunds     = actors.ErrInsufficientFunds
	ErrBalanceLimit          = actors.ErrBalanceLimit
	ErrAccountNotActive      = actors.ErrAccountNotActive
	ErrCardNotUsable         = actors.ErrCardNotUsable
	ErrStockExhausted        = actors.ErrStockExhausted
	ErrLimitReached          = actors.ErrLimitReached
	ErrCodeUnknown           = actors.ErrCodeUnknown
	ErrCodeExpired           = actors.ErrCodeExpired
	ErrCodeUsed              = actors.ErrCodeUsed
	ErrCodeLimit             = actors.ErrCodeLimit
	ErrTemplateExpired       = actors.ErrTemplateExpired
	ErrRefundNotAllowed      = actors.ErrRefundNotAllowed
	ErrInterrupted           = actors.ErrInterrupted
	ErrPermissionDenied      = actors.ErrPermissionDenied
	ErrEngineStopped         = actors.ErrEngineStopped
	ErrOverloaded            = actors.ErrOverloaded
	ErrGiftNotAllowed        = actors.ErrGiftNotAllowed
	ErrGiftNotPending        = actors.ErrGiftNotPending
	ErrImageInvalid          = actors.ErrImageInvalid   // also matches ErrInvalidArgument
	ErrImageTooLarge         = actors.ErrImageTooLarge  // also matches ErrInvalidArgument
	ErrMessageTooLong        = actors.ErrMessageTooLong // also matches ErrInvalidArgument
	ErrNotInPool             = actors.ErrNotInPool
	ErrPoolFull              = actors.ErrPoolFull
	ErrNotContact            = actors.ErrNotContact // also matches ErrPermissionDenied
	ErrNotShared             = actors.ErrNotShared  // also matches ErrInvalidArgument
	ErrBadSignature          = actors.ErrBadSignature
	ErrStaleNotification     = actors.ErrStaleNotification     // also matches ErrInvalidArgument
	ErrDuplicateNotification = actors.ErrDuplicateNotification // also matches ErrExists
)

// CardError is ErrCardNotUsable with its reason.
type CardError = actors.CardError
