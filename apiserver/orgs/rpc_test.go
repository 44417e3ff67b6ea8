package orgs_test

import (
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/api/proto/codequest/v1/codequestv1connect"
	"github.com/codequest-dev/codequest/apiserver/apitest"
	"github.com/codequest-dev/codequest/apiserver/auth"
)

// clients returns organization clients for u (nil: anonymous) speaking
// Connect with JSON and gRPC with binary protobuf.
func clients(env *apitest.Env, u *apitest.User) map[string]codequestv1connect.OrganizationServiceClient {
	var opts []connect.ClientOption
	if u != nil {
		opts = append(opts, u.Auth())
	}
	return map[string]codequestv1connect.OrganizationServiceClient{
		"connect-json": env.Clients(opts...).Orgs,
		"grpc":         codequestv1connect.NewOrganizationServiceClient(env.HTTP, env.URL, append([]connect.ClientOption{connect.WithGRPC()}, opts...)...),
	}
}

func TestRPCOrganizations(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := t.Context()
	partner := env.NewUser(t, auth.RoleBusinessPartner)
	instructor := env.NewUser(t, auth.RoleInstructor)
	learner := env.NewUser(t, auth.RoleLearner)
	stranger := env.NewUser(t, auth.RoleBusinessPartner) // owns another organization
	newcomer := env.NewUser(t, auth.RoleLearner)

	owner := env.Clients(partner.Auth()).Orgs
	res, err := owner.CreateOrganization(ctx, connect.NewRequest(&codequestv1.CreateOrganizationRequest{Slug: "rpc-school", Name: "RPC School"}))
	wantCode(t, err, 0)
	orgID := res.Msg.GetOrganization().GetId()
	_, err = env.Clients(stranger.Auth()).Orgs.CreateOrganization(ctx, connect.NewRequest(&codequestv1.CreateOrganizationRequest{Slug: "elsewhere", Name: "Elsewhere"}))
	wantCode(t, err, 0)
	for _, m := range []struct {
		u    *apitest.User
		role codequestv1.OrganizationRole
	}{{instructor, roleInstructor}, {learner, roleMember}} {
		join(t, env, owner, orgID, m.u, m.role)
	}

	for name, c := range clients(env, nil) {
		_, err := c.GetOrganization(ctx, connect.NewRequest(&codequestv1.GetOrganizationRequest{OrganizationId: orgID}))
		wantCode(t, err, connect.CodeUnauthenticated)
		_, err = c.ListOrganizations(ctx, connect.NewRequest(&codequestv1.ListOrganizationsRequest{}))
		wantCode(t, err, connect.CodeUnauthenticated)
		t.Logf("%s: anonymous refused", name)
	}
	for name, c := range clients(env, learner) {
		_, err := c.CreateOrganization(ctx, connect.NewRequest(&codequestv1.CreateOrganizationRequest{Slug: "mine", Name: "Mine"}))
		wantCode(t, err, connect.CodePermissionDenied) // wrong platform role
		_, err = c.UpdateOrganization(ctx, connect.NewRequest(&codequestv1.UpdateOrganizationRequest{OrganizationId: orgID}))
		wantCode(t, err, connect.CodePermissionDenied) // members are not owners
		_, err = c.AddMember(ctx, connect.NewRequest(&codequestv1.AddMemberRequest{OrganizationId: orgID, UserId: newcomer.ID.String(), Role: roleMember}))
		wantCode(t, err, connect.CodePermissionDenied)
		_, err = c.RemoveMember(ctx, connect.NewRequest(&codequestv1.RemoveMemberRequest{OrganizationId: orgID, UserId: instructor.ID.String()}))
		wantCode(t, err, connect.CodePermissionDenied)
		got, err := c.GetOrganization(ctx, connect.NewRequest(&codequestv1.GetOrganizationRequest{OrganizationId: orgID}))
		wantCode(t, err, 0)
		if got.Msg.GetOrganization().GetMemberCount() != 3 {
			t.Errorf("%s: member_count = %d, want 3", name, got.Msg.GetOrganization().GetMemberCount())
		}
	}
	for _, c := range clients(env, stranger) { // owner elsewhere, outsider here
		_, err := c.GetOrganization(ctx, connect.NewRequest(&codequestv1.GetOrganizationRequest{OrganizationId: orgID}))
		wantCode(t, err, connect.CodePermissionDenied)
		_, err = c.ListMembers(ctx, connect.NewRequest(&codequestv1.ListMembersRequest{OrganizationId: orgID}))
		wantCode(t, err, connect.CodePermissionDenied)
		_, err = c.AddMember(ctx, connect.NewRequest(&codequestv1.AddMemberRequest{OrganizationId: orgID, UserId: stranger.ID.String(), Role: roleOwner}))
		wantCode(t, err, connect.CodePermissionDenied)
		_, err = c.RemoveMember(ctx, connect.NewRequest(&codequestv1.RemoveMemberRequest{OrganizationId: orgID, UserId: partner.ID.String()}))
		wantCode(t, err, connect.CodePermissionDenied)
		list, err := c.ListOrganizations(ctx, connect.NewRequest(&codequestv1.ListOrganizationsRequest{}))
		wantCode(t, err, 0)
		if n := len(list.Msg.GetOrganizations()); n != 1 || list.Msg.GetOrganizations()[0].GetSlug() != "elsewhere" {
			t.Errorf("stranger lists %v, want only elsewhere", list.Msg.GetOrganizations())
		}
	}
	for _, c := range clients(env, instructor) {
		_, err := c.InviteMember(ctx, connect.NewRequest(&codequestv1.InviteMemberRequest{OrganizationId: orgID, UserId: newcomer.ID.String(), Role: roleInstructor}))
		wantCode(t, err, connect.CodePermissionDenied)
		// Adding someone who is not a member is an invitation, never a
		// membership (and never an address).
		_, err = c.AddMember(ctx, connect.NewRequest(&codequestv1.AddMemberRequest{OrganizationId: orgID, UserId: newcomer.ID.String(), Role: roleMember}))
		wantCode(t, err, connect.CodeFailedPrecondition)
	}
	join(t, env, env.Clients(instructor.Auth()).Orgs, orgID, newcomer, roleMember)

	for name, c := range clients(env, partner) {
		_, err := c.CreateOrganization(ctx, connect.NewRequest(&codequestv1.CreateOrganizationRequest{Slug: "-Bad", Name: "", Description: "ok"}))
		wantCode(t, err, connect.CodeInvalidArgument)
		if diff := cmp.Diff(fields(t, err), []string{"name", "slug"}); diff != "" {
			t.Errorf("%s: field violations (-got +want):\n%s", name, diff)
		}
		_, err = c.GetOrganization(ctx, connect.NewRequest(&codequestv1.GetOrganizationRequest{OrganizationId: "not-a-uuid"}))
		wantCode(t, err, connect.CodeInvalidArgument)
		if diff := cmp.Diff(fields(t, err), []string{"organization_id"}); diff != "" {
			t.Errorf("%s: field violations (-got +want):\n%s", name, diff)
		}
		_, err = c.CreateOrganization(ctx, connect.NewRequest(&codequestv1.CreateOrganizationRequest{Slug: "rpc-school", Name: "Again"}))
		wantCode(t, err, connect.CodeAlreadyExists)

		// The last owner cannot leave, be removed or be demoted.
		_, err = c.RemoveMember(ctx, connect.NewRequest(&codequestv1.RemoveMemberRequest{OrganizationId: orgID, UserId: partner.ID.String()}))
		wantCode(t, err, connect.CodeFailedPrecondition)
		_, err = c.AddMember(ctx, connect.NewRequest(&codequestv1.AddMemberRequest{OrganizationId: orgID, UserId: partner.ID.String(), Role: roleMember}))
		wantCode(t, err, connect.CodeFailedPrecondition)

		// Members page through in join order.
		var got []string
		req := &codequestv1.ListMembersRequest{OrganizationId: orgID, PageSize: 1}
		for {
			res, err := c.ListMembers(ctx, connect.NewRequest(req))
			wantCode(t, err, 0)
			for _, m := range res.Msg.GetMembers() {
				got = append(got, m.GetUserId())
			}
			if req.PageToken = res.Msg.GetNextPageToken(); req.PageToken == "" {
				break
			}
		}
		want := []string{partner.ID.String(), instructor.ID.String(), learner.ID.String(), newcomer.ID.String()}
		if diff := cmp.Diff(got, want); diff != "" {
			t.Errorf("%s: members (-got +want):\n%s", name, diff)
		}
	}

	// A member may leave by themselves.
	_, err = env.Clients(newcomer.Auth()).Orgs.RemoveMember(ctx, connect.NewRequest(&codequestv1.RemoveMemberRequest{OrganizationId: orgID, UserId: newcomer.ID.String()}))
	wantCode(t, err, 0)
}

// join has owner invite u and u accept, through the API.
func join(t *testing.T, env *apitest.Env, owner codequestv1connect.OrganizationServiceClient, orgID string, u *apitest.User, role codequestv1.OrganizationRole) {
	t.Helper()
	inv, err := owner.InviteMember(t.Context(), connect.NewRequest(&codequestv1.InviteMemberRequest{OrganizationId: orgID, UserId: u.ID.String(), Role: role}))
	wantCode(t, err, 0)
	if inv.Msg.GetInvitation().GetDisplayName() == "" || strings.Contains(inv.Msg.String(), u.Email) {
		t.Errorf("invitation %v: want the display name and no address", inv.Msg)
	}
	_, err = env.Clients(u.Auth()).Orgs.AcceptInvitation(t.Context(), connect.NewRequest(&codequestv1.AcceptInvitationRequest{InvitationId: inv.Msg.GetInvitation().GetId()}))
	wantCode(t, err, 0)
}
