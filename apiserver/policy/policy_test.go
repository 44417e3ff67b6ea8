package policy

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/apiserver/apierr"
	"github.com/codequest-dev/codequest/apiserver/auth"
)

type members map[[2]uuid.UUID]string

func (m members) OrganizationRole(_ context.Context, org, user uuid.UUID) (string, error) {
	return m[[2]uuid.UUID{org, user}], nil
}

func TestAuthorize(t *testing.T) {
	org := uuid.New()
	owner, instructor, member, stranger, admin := uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()
	i := NewInterceptor(Table{
		"/p":   {Access: Public},
		"/s":   {Access: SignedIn},
		"/bp":  {Access: RolesOnly, Roles: []string{auth.RoleBusinessPartner}},
		"/mem": {Access: SignedIn, Org: OrgMember},
		"/ins": {Access: SignedIn, Org: OrgInstructor},
		"/own": {Access: SignedIn, Org: OrgOwner},
	}, members{{org, owner}: OrgRoleOwner, {org, instructor}: OrgRoleInstructor, {org, member}: OrgRoleMember})
	as := func(id uuid.UUID, role string) context.Context {
		return auth.WithCaller(context.Background(), &auth.Caller{UserID: id, Role: role})
	}
	req := &codequestv1.GetOrganizationRequest{OrganizationId: org.String()}
	for _, tc := range []struct {
		proc string
		ctx  context.Context
		want error
	}{
		{"/p", context.Background(), nil},
		{"/s", context.Background(), apierr.ErrUnauthenticated},
		{"/s", as(member, auth.RoleLearner), nil},
		{"/unknown", as(admin, auth.RoleAdmin), apierr.ErrPermission},
		{"/bp", as(member, auth.RoleLearner), apierr.ErrPermission},
		{"/bp", as(member, auth.RoleBusinessPartner), nil},
		{"/bp", as(admin, auth.RoleAdmin), nil},
		{"/mem", as(stranger, auth.RoleLearner), apierr.ErrPermission},
		{"/mem", as(member, auth.RoleLearner), nil},
		{"/ins", as(member, auth.RoleLearner), apierr.ErrPermission},
		{"/ins", as(instructor, auth.RoleLearner), nil},
		{"/own", as(instructor, auth.RoleInstructor), apierr.ErrPermission},
		{"/own", as(owner, auth.RoleLearner), nil},
		{"/own", as(admin, auth.RoleAdmin), nil},
	} {
		_, err := i.Authorize(tc.ctx, tc.proc, req)
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: got %v, want %v", tc.proc, err, tc.want)
		}
	}
	ctx, err := i.Authorize(as(instructor, auth.RoleLearner), "/mem", req)
	if err != nil || OrgRoleFrom(ctx) != OrgRoleInstructor {
		t.Errorf("OrgRoleFrom = %q, %v", OrgRoleFrom(ctx), err)
	}
	_, err = i.Authorize(as(member, auth.RoleLearner), "/mem", &codequestv1.GetOrganizationRequest{OrganizationId: "nope"})
	var v *apierr.Validation
	if !errors.As(err, &v) {
		t.Errorf("bad organization id: %v", err)
	}
}
