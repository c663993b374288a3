package server

import (
	"errors"

	"connectrpc.com/connect"
	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
)

// code is the status code of an error class: the one place the network API maps them.
func code(c kaquan.ErrorClass) connect.Code {
	switch c {
	case kaquan.ClassInvalid:
		return connect.CodeInvalidArgument
	case kaquan.ClassNotFound:
		return connect.CodeNotFound
	case kaquan.ClassExists:
		return connect.CodeAlreadyExists
	case kaquan.ClassDenied:
		return connect.CodePermissionDenied
	case kaquan.ClassUnauthenticated:
		return connect.CodeUnauthenticated
	case kaquan.ClassPrecondition:
		return connect.CodeFailedPrecondition
	case kaquan.ClassExhausted:
		return connect.CodeResourceExhausted
	case kaquan.ClassUnavailable:
		return connect.CodeUnavailable
	case kaquan.ClassAborted:
		return connect.CodeAborted
	case kaquan.ClassDeadline:
		return connect.CodeDeadlineExceeded
	case kaquan.ClassCanceled:
		return connect.CodeCanceled
	}
	return connect.CodeInternal
}

// engineError turns an engine error into a status with the typed reason in its details.
func engineError(err error) error {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return err
	}
	class, ok := kaquan.Class(err)
	if !ok {
		return connect.NewError(connect.CodeInternal, err)
	}
	e := connect.NewError(code(class), err)
	reason := &messages.ErrorReason{Reason: kaquan.Reason(err)}
	var card *kaquan.CardError
	if errors.As(err, &card) {
		reason.CardReason = card.Reason
	}
	if d, derr := connect.NewErrorDetail(reason); derr == nil {
		e.AddDetail(d)
	}
	return e
}

// reasonOf names an error for metrics.
func reasonOf(err error) string {
	if err == nil {
		return "ok"
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		for _, d := range ce.Details() {
			if m, e := d.Value(); e == nil {
				if r, ok := m.(*messages.ErrorReason); ok {
					return r.Reason
				}
			}
		}
		return ce.Code().String()
	}
	return "internal"
}
