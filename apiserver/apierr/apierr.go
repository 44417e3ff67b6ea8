// Package apierr holds the domain errors of the API server and maps them to
// Connect codes, once, at the handler edge.
//
// Domain code returns sentinels wrapped with context
// (fmt.Errorf("get user: %w", apierr.ErrNotFound)) or a *Validation with
// field violations. Handlers return Connect(ctx, err); anything that is not
// a known domain error is logged with its cause and reaches the client as
// CodeInternal with a generic message, so internal text never leaks.
package apierr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
)

// Domain sentinels. Wrap them; test with errors.Is.
var (
	ErrNotFound           = errors.New("not found")
	ErrAlreadyExists      = errors.New("already exists")
	ErrPermission         = errors.New("permission denied")
	ErrUnauthenticated    = errors.New("unauthenticated")
	ErrFailedPrecondition = errors.New("failed precondition")
	ErrConflict           = errors.New("conflict")
	ErrResourceExhausted  = errors.New("resource exhausted")
	ErrUnavailable        = errors.New("unavailable")
)

// Public is an error whose message is safe to show to the client. It wraps
// one of the sentinels, which picks the code.
type Public struct {
	Kind    error
	Message string
}

func (e *Public) Error() string { return e.Message }
func (e *Public) Unwrap() error { return e.Kind }

// New returns a domain error of the given kind with a client-safe message.
func New(kind error, format string, args ...any) error {
	return &Public{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Violation is one invalid field.
type Violation struct {
	Field       string
	Description string
}

// Validation is a request that failed validation; it maps to
// CodeInvalidArgument with an errdetails.BadRequest detail.
type Validation struct {
	Violations []Violation
}

func (v *Validation) Error() string {
	if len(v.Violations) == 0 {
		return "invalid request"
	}
	msg := "invalid " + v.Violations[0].Field + ": " + v.Violations[0].Description
	if n := len(v.Violations) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more)", n)
	}
	return msg
}

// Add records a violation.
func (v *Validation) Add(field, format string, args ...any) {
	v.Violations = append(v.Violations, Violation{Field: field, Description: fmt.Sprintf(format, args...)})
}

// Check records a violation when ok is false.
func (v *Validation) Check(ok bool, field, format string, args ...any) {
	if !ok {
		v.Add(field, format, args...)
	}
}

// Err returns v as an error when it holds violations, else nil.
func (v *Validation) Err() error {
	if len(v.Violations) == 0 {
		return nil
	}
	return v
}

// RetryAfter marks a rate-limited request with the time the client should
// wait; it maps to CodeResourceExhausted with a Retry-After header (seconds)
// and an errdetails.RetryInfo detail.
type RetryAfter struct {
	Seconds int
	Message string
}

func (e *RetryAfter) Error() string { return e.Message }
func (e *RetryAfter) Unwrap() error { return ErrResourceExhausted }

var codes = []struct {
	kind error
	code connect.Code
}{
	{ErrNotFound, connect.CodeNotFound},
	{ErrAlreadyExists, connect.CodeAlreadyExists},
	{ErrPermission, connect.CodePermissionDenied},
	{ErrUnauthenticated, connect.CodeUnauthenticated},
	{ErrFailedPrecondition, connect.CodeFailedPrecondition},
	{ErrConflict, connect.CodeAborted},
	{ErrResourceExhausted, connect.CodeResourceExhausted},
	{ErrUnavailable, connect.CodeUnavailable},
}

// Connect turns err into a *connect.Error. Known domain errors keep their
// public message; context cancellation keeps its code; anything else is
// logged and hidden behind CodeInternal.
func Connect(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce
	}
	var v *Validation
	if errors.As(err, &v) {
		out := connect.NewError(connect.CodeInvalidArgument, errors.New(v.Error()))
		br := &errdetails.BadRequest{}
		for _, fv := range v.Violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
				Field: fv.Field, Description: fv.Description,
			})
		}
		if d, derr := connect.NewErrorDetail(br); derr == nil {
			out.AddDetail(d)
		}
		return out
	}
	var ra *RetryAfter
	if errors.As(err, &ra) {
		out := connect.NewError(connect.CodeResourceExhausted, errors.New(ra.Message))
		out.Meta().Set("Retry-After", fmt.Sprint(ra.Seconds))
		return out
	}
	switch {
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, errors.New("request canceled"))
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, errors.New("deadline exceeded"))
	}
	var pub *Public
	if errors.As(err, &pub) {
		for _, c := range codes {
			if errors.Is(pub.Kind, c.kind) {
				return connect.NewError(c.code, errors.New(pub.Message))
			}
		}
	}
	for _, c := range codes {
		if errors.Is(err, c.kind) {
			return connect.NewError(c.code, errors.New(c.kind.Error()))
		}
	}
	slog.ErrorContext(ctx, "internal error", "error", err)
	return connect.NewError(connect.CodeInternal, errors.New("internal error"))
}
