package apitest

import (
	"testing"

	"connectrpc.com/connect"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
)

// Join makes u a member of orgID with role as people do: inviter (an
// owner, an instructor for members, or an admin) invites, u accepts.
func (e *Env) Join(t testing.TB, inviter Clients, orgID string, u *User, role codequestv1.OrganizationRole) {
	t.Helper()
	inv, err := inviter.Orgs.InviteMember(t.Context(), connect.NewRequest(&codequestv1.InviteMemberRequest{OrganizationId: orgID, UserId: u.ID.String(), Role: role}))
	if err != nil {
		t.Fatalf("InviteMember: %v", err)
	}
	if _, err := e.Clients(u.Auth()).Orgs.AcceptInvitation(t.Context(), connect.NewRequest(&codequestv1.AcceptInvitationRequest{InvitationId: inv.Msg.GetInvitation().GetId()})); err != nil {
		t.Fatalf("AcceptInvitation: %v", err)
	}
}
