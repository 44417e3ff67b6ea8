package orgs_test

import (
	"strings"
	"testing"

	"connectrpc.com/connect"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/apiserver/apitest"
	"github.com/codequest-dev/codequest/apiserver/auth"
)

// An owner cannot read anyone's address by naming their id: AddMember of a
// non-member reveals nothing and adds nobody; an invitation shows the
// display name only; the address is the organization's once the invitee
// accepted; only the invitee accepts.
func TestInvitationsRevealNoAddress(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := t.Context()
	partner := env.NewUser(t, auth.RoleBusinessPartner)
	victim := env.NewUser(t, auth.RoleLearner)
	other := env.NewUser(t, auth.RoleLearner)
	owner := env.Clients(partner.Auth()).Orgs
	res, err := owner.CreateOrganization(ctx, connect.NewRequest(&codequestv1.CreateOrganizationRequest{Slug: "curious", Name: "Curious"}))
	wantCode(t, err, 0)
	orgID := res.Msg.GetOrganization().GetId()

	_, err = owner.AddMember(ctx, connect.NewRequest(&codequestv1.AddMemberRequest{OrganizationId: orgID, UserId: victim.ID.String(), Role: roleMember}))
	wantCode(t, err, connect.CodeFailedPrecondition)
	if strings.Contains(err.Error(), victim.Email) {
		t.Errorf("AddMember's error shows the address: %v", err)
	}
	inv, err := owner.InviteMember(ctx, connect.NewRequest(&codequestv1.InviteMemberRequest{OrganizationId: orgID, UserId: victim.ID.String(), Role: roleMember}))
	wantCode(t, err, 0)
	list, err := owner.ListOrganizationInvitations(ctx, connect.NewRequest(&codequestv1.ListOrganizationInvitationsRequest{OrganizationId: orgID}))
	wantCode(t, err, 0)
	members, err := owner.ListMembers(ctx, connect.NewRequest(&codequestv1.ListMembersRequest{OrganizationId: orgID}))
	wantCode(t, err, 0)
	for _, msg := range []string{inv.Msg.String(), list.Msg.String(), members.Msg.String()} {
		if strings.Contains(msg, victim.Email) {
			t.Errorf("the address shows before acceptance: %s", msg)
		}
	}
	if len(members.Msg.GetMembers()) != 1 {
		t.Errorf("an invitation made a member: %v", members.Msg.GetMembers())
	}

	id := inv.Msg.GetInvitation().GetId()
	_, err = env.Clients(other.Auth()).Orgs.AcceptInvitation(ctx, connect.NewRequest(&codequestv1.AcceptInvitationRequest{InvitationId: id}))
	wantCode(t, err, connect.CodeNotFound)
	_, err = owner.AcceptInvitation(ctx, connect.NewRequest(&codequestv1.AcceptInvitationRequest{InvitationId: id}))
	wantCode(t, err, connect.CodeNotFound)

	mine, err := env.Clients(victim.Auth()).Orgs.ListInvitations(ctx, connect.NewRequest(&codequestv1.ListInvitationsRequest{}))
	wantCode(t, err, 0)
	if len(mine.Msg.GetInvitations()) != 1 || mine.Msg.GetInvitations()[0].GetOrganizationName() != "Curious" {
		t.Fatalf("the invitee's invitations: %v", mine.Msg.GetInvitations())
	}
	_, err = env.Clients(victim.Auth()).Orgs.AcceptInvitation(ctx, connect.NewRequest(&codequestv1.AcceptInvitationRequest{InvitationId: id}))
	wantCode(t, err, 0)
	members, err = owner.ListMembers(ctx, connect.NewRequest(&codequestv1.ListMembersRequest{OrganizationId: orgID}))
	wantCode(t, err, 0)
	if !strings.Contains(members.Msg.String(), victim.Email) {
		t.Errorf("the member's address is not shown after acceptance: %v", members.Msg)
	}

	// Declined and withdrawn invitations go away.
	inv2, err := owner.InviteMember(ctx, connect.NewRequest(&codequestv1.InviteMemberRequest{OrganizationId: orgID, UserId: other.ID.String(), Role: roleMember}))
	wantCode(t, err, 0)
	_, err = env.Clients(other.Auth()).Orgs.DeclineInvitation(ctx, connect.NewRequest(&codequestv1.DeclineInvitationRequest{InvitationId: inv2.Msg.GetInvitation().GetId()}))
	wantCode(t, err, 0)
	_, err = env.Clients(other.Auth()).Orgs.AcceptInvitation(ctx, connect.NewRequest(&codequestv1.AcceptInvitationRequest{InvitationId: inv2.Msg.GetInvitation().GetId()}))
	wantCode(t, err, connect.CodeNotFound)
}
