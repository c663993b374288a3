package kaquan

import "github.com/kaquan/kaquan/actors"

// Error is one of the engine's typed errors: a sentinel with its reason and its class.
type Error = actors.Error

// ErrorClass is the kind of refusal an error is (invalid, not found, exists, denied, ...): what a
// caller can do about it.
type ErrorClass = actors.Class

// The error classes.
const (
	ClassInvalid         = actors.ClassInvalid
	ClassNotFound        = actors.ClassNotFound
	ClassExists          = actors.ClassExists
	ClassDenied          = actors.ClassDenied
	ClassUnauthenticated = actors.ClassUnauthenticated
	ClassPrecondition    = actors.ClassPrecondition
	ClassExhausted       = actors.ClassExhausted
	ClassUnavailable     = actors.ClassUnavailable
	ClassAborted         = actors.ClassAborted
	ClassDeadline        = actors.ClassDeadline
	ClassCanceled        = actors.ClassCanceled
)

// Errors every call may return; test them with errors.Is. Each is declared, with its reason and
// class, in the table in package actors. A *CardError also matches ErrCardNotUsable and carries
// the reason.
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
	ErrWrongNode             = actors.ErrWrongNode             // cluster mode: an entity of a slot another node owns
	ErrUnavailable           = actors.ErrUnavailable           // cluster mode: the owning node is down or did not answer in time
	ErrClusterLayout         = actors.ErrClusterLayout         // Open: the folder's recorded cluster layout differs
	ErrNotInCluster          = actors.ErrNotInCluster          // cluster mode: an operation only a single node offers yet
	ErrStaleNotification     = actors.ErrStaleNotification     // also matches ErrInvalidArgument
	ErrDuplicateNotification = actors.ErrDuplicateNotification // also matches ErrExists
)

// CardError is ErrCardNotUsable with its reason.
type CardError = actors.CardError

// Reason names err by the typed error it is (the most specific one it wraps): "" for nil, "other"
// for none. The network API carries the name in an error's details, and benchmarks count errors
// by it.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	if e := actors.Lookup(err); e != nil {
		return e.Reason()
	}
	return "other"
}

// Class is the class of the typed error err is, and false for nil or an error that is none of
// them (an operating failure, or a bug).
func Class(err error) (ErrorClass, bool) {
	if e := actors.Lookup(err); e != nil {
		return e.Class(), true
	}
	return 0, false
}

// ReasonError is the typed error a reason names, or nil: a client turns a reason received from
// the network API back into the error.
func ReasonError(name string) error { return actors.ByReason(name) }

// Reasons lists every reason name.
func Reasons() []string {
	names := make([]string, len(actors.Errors))
	for i, e := range actors.Errors {
		names[i] = e.Reason()
	}
	return names
}
