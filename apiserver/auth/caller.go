// Package auth holds identity: password hashing, access and refresh tokens,
// the authentication middleware that puts the caller in the request
// context, and the AuthService.
package auth

import (
	"context"

	"github.com/google/uuid"
)

// Platform roles.
const (
	RoleLearner         = "learner"
	RoleInstructor      = "instructor"
	RoleBusinessPartner = "business_partner"
	RoleAdmin           = "admin"
)

// Caller is an authenticated caller: the account of a verified access token
// of its current session epoch, with the role the account has now.
type Caller struct {
	UserID uuid.UUID
	Role   string
}

// IsAdmin reports whether the caller has the admin role.
func (c *Caller) IsAdmin() bool { return c != nil && c.Role == RoleAdmin }

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller in ctx, or nil for anonymous requests.
func CallerFrom(ctx context.Context) *Caller {
	c, _ := ctx.Value(callerKey{}).(*Caller)
	return c
}
