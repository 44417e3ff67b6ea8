package apierr

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
)

func TestConnect(t *testing.T) {
	ctx := context.Background()
	v := &Validation{}
	v.Add("email", "must be an email address")
	v.Add("password", "too short")
	for _, tc := range []struct {
		name    string
		err     error
		code    connect.Code
		message string
	}{
		{"wrapped sentinel", fmt.Errorf("get user: %w", ErrNotFound), connect.CodeNotFound, "not found"},
		{"public", New(ErrPermission, "only admins"), connect.CodePermissionDenied, "only admins"},
		{"wrapped public", fmt.Errorf("x: %w", New(ErrAlreadyExists, "slug taken")), connect.CodeAlreadyExists, "slug taken"},
		{"validation", v, connect.CodeInvalidArgument, "invalid email: must be an email address (and 1 more)"},
		{"retry", &RetryAfter{Seconds: 7, Message: "slow down"}, connect.CodeResourceExhausted, "slow down"},
		{"canceled", fmt.Errorf("q: %w", context.Canceled), connect.CodeCanceled, "request canceled"},
		{"internal", errors.New("pq: password authentication failed for user secret"), connect.CodeInternal, "internal error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ce *connect.Error
			if !errors.As(Connect(ctx, tc.err), &ce) {
				t.Fatal("not a connect error")
			}
			if ce.Code() != tc.code || ce.Message() != tc.message {
				t.Errorf("got %v %q, want %v %q", ce.Code(), ce.Message(), tc.code, tc.message)
			}
		})
	}
	var ce *connect.Error
	errors.As(Connect(ctx, v), &ce)
	if len(ce.Details()) != 1 {
		t.Fatalf("details = %v", ce.Details())
	}
	d, err := ce.Details()[0].Value()
	if err != nil {
		t.Fatal(err)
	}
	br, ok := d.(*errdetails.BadRequest)
	if !ok || len(br.GetFieldViolations()) != 2 || br.GetFieldViolations()[1].GetField() != "password" {
		t.Errorf("detail = %v", d)
	}
	errors.As(Connect(ctx, &RetryAfter{Seconds: 7, Message: "slow"}), &ce)
	if ce.Meta().Get("Retry-After") != "7" {
		t.Errorf("Retry-After = %q", ce.Meta().Get("Retry-After"))
	}
	if Connect(ctx, nil) != nil {
		t.Error("nil error mapped to non-nil")
	}
}
