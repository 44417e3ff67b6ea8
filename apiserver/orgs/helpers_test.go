package orgs_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/apiserver/auth"
	"github.com/codequest-dev/codequest/apiserver/orgs"
	"github.com/codequest-dev/codequest/apiserver/store"
	"github.com/codequest-dev/codequest/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// env is one test's database and service.
type env struct {
	st  *store.Store
	svc *orgs.Service
	n   int
}

func newEnv(t testing.TB) *env {
	t.Helper()
	st := store.Open(harness.Postgres(t))
	return &env{st: st, svc: orgs.New(st, nil)}
}

// user creates an account with a platform role and returns a context
// signed in as it.
func (e *env) user(t *testing.T, role string) (context.Context, uuid.UUID) {
	t.Helper()
	e.n++
	u, err := e.st.CreateUser(t.Context(), store.CreateUserParams{
		Email: fmt.Sprintf("%s-%d@example.test", role, e.n), DisplayName: fmt.Sprintf("%s %d", role, e.n), Role: role,
	})
	if err != nil {
		t.Fatalf("create user: %v", err)
	}
	return auth.WithCaller(t.Context(), &auth.Caller{UserID: u.ID, Role: role}), u.ID
}

// org creates an organization owned by the caller in ctx.
func (e *env) org(t *testing.T, ctx context.Context, slug string) string {
	t.Helper()
	res, err := e.svc.CreateOrganization(ctx, connect.NewRequest(&codequestv1.CreateOrganizationRequest{Slug: slug, Name: "Org " + slug}))
	if err != nil {
		t.Fatalf("CreateOrganization(%s): %v", slug, err)
	}
	return res.Msg.GetOrganization().GetId()
}

// add makes userID a member of orgID with role: the caller in ctx invites,
// the user accepts.
func (e *env) add(t *testing.T, ctx context.Context, orgID string, userID uuid.UUID, role codequestv1.OrganizationRole) {
	t.Helper()
	inv, err := e.svc.InviteMember(ctx, connect.NewRequest(&codequestv1.InviteMemberRequest{
		OrganizationId: orgID, UserId: userID.String(), Role: role,
	}))
	if err != nil {
		t.Fatalf("InviteMember(%s, %v): %v", userID, role, err)
	}
	invitee := auth.WithCaller(t.Context(), &auth.Caller{UserID: userID, Role: auth.RoleLearner})
	if _, err := e.svc.AcceptInvitation(invitee, connect.NewRequest(&codequestv1.AcceptInvitationRequest{
		InvitationId: inv.Msg.GetInvitation().GetId(),
	})); err != nil {
		t.Fatalf("AcceptInvitation(%s): %v", userID, err)
	}
}

// wantCode fails t unless err carries code (nil error for 0).
func wantCode(t *testing.T, err error, code connect.Code) {
	t.Helper()
	if code == 0 {
		if err != nil {
			t.Fatalf("error = %v, want none", err)
		}
		return
	}
	if got := connect.CodeOf(err); err == nil || got != code {
		t.Fatalf("error = %v (code %v), want code %v", err, got, code)
	}
}

// fields returns the fields of err's errdetails.BadRequest violations.
func fields(t *testing.T, err error) []string {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a *connect.Error", err)
	}
	var out []string
	for _, d := range ce.Details() {
		v, err := d.Value()
		if err != nil {
			t.Fatalf("detail: %v", err)
		}
		if br, ok := v.(*errdetails.BadRequest); ok {
			for _, fv := range br.GetFieldViolations() {
				out = append(out, fv.GetField())
			}
		}
	}
	slices.Sort(out)
	return out
}

type contextT = context.Context

func parseUUID(t *testing.T, s string) uuid.UUID {
	t.Helper()
	id, err := uuid.Parse(s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return id
}
