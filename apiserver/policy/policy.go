// Package policy decides who may call each RPC. One table maps every
// procedure to a rule: who may call it (anyone, any signed-in user, or some
// platform roles) and which organization rule applies to the request's
// organization_id. The Interceptor enforces the table before any handler
// runs; a procedure missing from the table is refused.
package policy

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/codequest-dev/codequest/apiserver/apierr"
	"github.com/codequest-dev/codequest/apiserver/auth"
)

// Access says who may call a procedure.
type Access int

const (
	// Public procedures need no token (sign-in, registration, ...).
	Public Access = iota
	// SignedIn procedures need a valid access token.
	SignedIn
	// RolesOnly procedures need a token whose platform role is listed.
	RolesOnly
)

// OrgRule constrains callers to members of the organization named by the
// request's organization_id field. Admins pass every organization rule.
type OrgRule int

const (
	// NoOrg: the request is not scoped to an organization.
	NoOrg OrgRule = iota
	// OrgMember: any member of the organization.
	OrgMember
	// OrgInstructor: instructors and owners of the organization.
	OrgInstructor
	// OrgOwner: owners of the organization.
	OrgOwner
)

// Rule is one row of the table.
type Rule struct {
	Access Access
	// Roles for RolesOnly (admins are always allowed).
	Roles []string
	Org   OrgRule
	// Note documents what the handler checks beyond the rule (ownership).
	Note string
}

// Table maps procedures ("/codequest.v1.AuthService/Login") to rules.
type Table map[string]Rule

// Memberships looks up a user's role in an organization; it returns "" with
// a nil error when the user is not a member.
type Memberships interface {
	OrganizationRole(ctx context.Context, orgID, userID uuid.UUID) (string, error)
}

// Organization roles, weakest first.
const (
	OrgRoleMember     = "member"
	OrgRoleInstructor = "instructor"
	OrgRoleOwner      = "owner"
)

// OrgRoleRank orders organization roles: member < instructor < owner; 0 for
// anything else.
func OrgRoleRank(role string) int {
	switch role {
	case OrgRoleMember:
		return 1
	case OrgRoleInstructor:
		return 2
	case OrgRoleOwner:
		return 3
	}
	return 0
}

type orgRoleKey struct{}

// OrgRoleFrom returns the caller's role in the request's organization as the
// interceptor found it ("" for admins who are not members, and for requests
// without an organization rule).
func OrgRoleFrom(ctx context.Context) string {
	r, _ := ctx.Value(orgRoleKey{}).(string)
	return r
}

// Interceptor enforces a Table.
type Interceptor struct {
	table   Table
	members Memberships
}

var _ connect.Interceptor = (*Interceptor)(nil)

// NewInterceptor returns an Interceptor enforcing table.
func NewInterceptor(table Table, members Memberships) *Interceptor {
	return &Interceptor{table: table, members: members}
}

type orgScoped interface {
	GetOrganizationId() string
}

// Authorize checks the caller in ctx against the rule for procedure and
// returns ctx carrying the caller's organization role.
func (i *Interceptor) Authorize(ctx context.Context, procedure string, req any) (context.Context, error) {
	rule, ok := i.table[procedure]
	if !ok {
		return ctx, apierr.New(apierr.ErrPermission, "procedure %s is not allowed", procedure)
	}
	caller := auth.CallerFrom(ctx)
	if rule.Access == Public {
		return ctx, nil
	}
	if caller == nil {
		return ctx, apierr.New(apierr.ErrUnauthenticated, "sign in to call %s", procedure)
	}
	if rule.Access == RolesOnly && !caller.IsAdmin() && !contains(rule.Roles, caller.Role) {
		return ctx, apierr.New(apierr.ErrPermission, "your role may not call %s", procedure)
	}
	if rule.Org == NoOrg {
		return ctx, nil
	}
	scoped, ok := req.(orgScoped)
	if !ok {
		return ctx, fmt.Errorf("policy: %s has an organization rule but its request has no organization_id", procedure)
	}
	orgID, err := uuid.Parse(scoped.GetOrganizationId())
	if err != nil {
		v := &apierr.Validation{}
		v.Add("organization_id", "must be a UUID")
		return ctx, v
	}
	role, err := i.members.OrganizationRole(ctx, orgID, caller.UserID)
	if err != nil {
		return ctx, fmt.Errorf("look up membership: %w", err)
	}
	ctx = context.WithValue(ctx, orgRoleKey{}, role)
	if caller.IsAdmin() {
		return ctx, nil
	}
	need := map[OrgRule]string{OrgMember: OrgRoleMember, OrgInstructor: OrgRoleInstructor, OrgOwner: OrgRoleOwner}[rule.Org]
	if OrgRoleRank(role) < OrgRoleRank(need) {
		if role == "" {
			return ctx, apierr.New(apierr.ErrPermission, "you are not a member of this organization")
		}
		return ctx, apierr.New(apierr.ErrPermission, "this needs the %s role in the organization", need)
	}
	return ctx, nil
}

// WrapUnary implements connect.Interceptor.
func (i *Interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		ctx, err := i.Authorize(ctx, req.Spec().Procedure, req.Any())
		if err != nil {
			return nil, apierr.Connect(ctx, err)
		}
		return next(ctx, req)
	}
}

// WrapStreamingClient implements connect.Interceptor.
func (i *Interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler implements connect.Interceptor. Streams are
// authorized on their procedure's access rule before the handler runs;
// organization rules on streams are checked by the handler on the first
// message, since no message has been read yet here.
func (i *Interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		proc := conn.Spec().Procedure
		rule, ok := i.table[proc]
		if ok && rule.Org != NoOrg {
			return apierr.Connect(ctx, errors.New("policy: organization rules are not supported on streams"))
		}
		ctx, err := i.Authorize(ctx, proc, nil)
		if err != nil {
			return apierr.Connect(ctx, err)
		}
		return next(ctx, conn)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
