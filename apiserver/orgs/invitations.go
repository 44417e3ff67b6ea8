package orgs

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/apiserver/apierr"
	"github.com/codequest-dev/codequest/apiserver/policy"
	"github.com/codequest-dev/codequest/apiserver/store"
)

// invitationTTL is how long an invitation waits for its answer.
const invitationTTL = 30 * 24 * time.Hour

var errInvitationNotFound = apierr.New(apierr.ErrNotFound, "invitation not found")

// InviteMember invites a user to an organization with a role. The
// organization learns the invitee's display name, never their email (that
// comes with the membership the invitee accepts).
func (s *Service) InviteMember(ctx context.Context, req *connect.Request[codequestv1.InviteMemberRequest]) (*connect.Response[codequestv1.InviteMemberResponse], error) {
	inv, err := s.inviteMember(ctx, req.Msg)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(&codequestv1.InviteMemberResponse{Invitation: inv}), nil
}

func (s *Service) inviteMember(ctx context.Context, m *codequestv1.InviteMemberRequest) (*codequestv1.Invitation, error) {
	c, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	var v apierr.Validation
	orgID := parseID(&v, "organization_id", m.GetOrganizationId())
	userID := parseID(&v, "user_id", m.GetUserId())
	role, ok := RoleFromProto(m.GetRole())
	v.Check(ok, "role", "must be ORGANIZATION_ROLE_MEMBER, ORGANIZATION_ROLE_INSTRUCTOR or ORGANIZATION_ROLE_OWNER")
	if err := v.Err(); err != nil {
		return nil, err
	}
	var out *codequestv1.Invitation
	err = s.st.InTx(ctx, func(q *store.Queries, _ pgx.Tx) error {
		if _, err := q.GetOrganizationForUpdate(ctx, orgID); store.IsNoRows(err) {
			if c.IsAdmin() {
				return errOrgNotFound
			}
			return apierr.New(apierr.ErrPermission, "you are not a member of this organization")
		} else if err != nil {
			return fmt.Errorf("lock organization: %w", err)
		}
		callerRole, err := requireRole(ctx, q, c, orgID, policy.OrgRoleInstructor)
		if err != nil {
			return err
		}
		if !c.IsAdmin() && callerRole != policy.OrgRoleOwner && role != policy.OrgRoleMember {
			return apierr.New(apierr.ErrPermission, "instructors may only invite with the member role")
		}
		if _, err := q.GetUser(ctx, userID); store.IsNoRows(err) {
			return apierr.New(apierr.ErrNotFound, "user not found")
		} else if err != nil {
			return fmt.Errorf("get user: %w", err)
		}
		if current, err := memberRole(ctx, q, orgID, userID); err != nil {
			return err
		} else if current != "" {
			return apierr.New(apierr.ErrAlreadyExists, "the user is a member already; change their role with AddMember")
		}
		id, err := q.UpsertInvitation(ctx, store.UpsertInvitationParams{
			OrganizationID: orgID, UserID: userID, Role: role, InvitedBy: &c.UserID, ExpiresAt: time.Now().Add(invitationTTL),
		})
		if err != nil {
			return fmt.Errorf("invite: %w", err)
		}
		row, err := q.GetInvitation(ctx, id)
		if err != nil {
			return fmt.Errorf("get invitation: %w", err)
		}
		out = invitationProto(row)
		return nil
	})
	return out, err
}

// ListInvitations lists the caller's pending invitations.
func (s *Service) ListInvitations(ctx context.Context, req *connect.Request[codequestv1.ListInvitationsRequest]) (*connect.Response[codequestv1.ListInvitationsResponse], error) {
	c, err := signedIn(ctx)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	var v apierr.Validation
	page := v.Page(req.Msg.GetPageSize(), req.Msg.GetPageToken())
	if err := v.Err(); err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	rows, err := s.st.ListUserInvitations(ctx, store.ListUserInvitationsParams{UserID: c.UserID, AfterTime: page.AfterTime, AfterID: page.AfterID, Lim: page.Limit()})
	if err != nil {
		return nil, apierr.Connect(ctx, fmt.Errorf("list invitations: %w", err))
	}
	res := &codequestv1.ListInvitationsResponse{}
	res.Invitations, res.NextPageToken = invitationPage(rows, page)
	return connect.NewResponse(res), nil
}

// ListOrganizationInvitations lists an organization's pending invitations.
func (s *Service) ListOrganizationInvitations(ctx context.Context, req *connect.Request[codequestv1.ListOrganizationInvitationsRequest]) (*connect.Response[codequestv1.ListOrganizationInvitationsResponse], error) {
	c, err := signedIn(ctx)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	var v apierr.Validation
	orgID := parseID(&v, "organization_id", req.Msg.GetOrganizationId())
	page := v.Page(req.Msg.GetPageSize(), req.Msg.GetPageToken())
	if err := v.Err(); err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	if _, err := requireRole(ctx, s.st.Queries, c, orgID, policy.OrgRoleInstructor); err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	rows, err := s.st.ListOrganizationInvitations(ctx, store.ListOrganizationInvitationsParams{OrganizationID: orgID, AfterTime: page.AfterTime, AfterID: page.AfterID, Lim: page.Limit()})
	if err != nil {
		return nil, apierr.Connect(ctx, fmt.Errorf("list invitations: %w", err))
	}
	res := &codequestv1.ListOrganizationInvitationsResponse{}
	res.Invitations, res.NextPageToken = invitationPage(rows, page)
	return connect.NewResponse(res), nil
}

// AcceptInvitation makes the invitee a member.
func (s *Service) AcceptInvitation(ctx context.Context, req *connect.Request[codequestv1.AcceptInvitationRequest]) (*connect.Response[codequestv1.AcceptInvitationResponse], error) {
	c, err := signedIn(ctx)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	var v apierr.Validation
	id := parseID(&v, "invitation_id", req.Msg.GetInvitationId())
	if err := v.Err(); err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	var out *codequestv1.Member
	err = s.st.InTx(ctx, func(q *store.Queries, _ pgx.Tx) error {
		inv, err := q.GetInvitationForUpdate(ctx, id)
		if store.IsNoRows(err) || err == nil && (inv.UserID != c.UserID || time.Now().After(inv.ExpiresAt)) {
			return errInvitationNotFound // others' invitations do not exist for the caller
		}
		if err != nil {
			return fmt.Errorf("get invitation: %w", err)
		}
		if _, err := q.InsertMembership(ctx, store.InsertMembershipParams{OrganizationID: inv.OrganizationID, UserID: c.UserID, Role: inv.Role}); err != nil {
			return fmt.Errorf("add member: %w", err)
		}
		if _, err := q.DeleteInvitation(ctx, id); err != nil {
			return fmt.Errorf("delete invitation: %w", err)
		}
		row, err := q.GetMember(ctx, store.GetMemberParams{OrganizationID: inv.OrganizationID, UserID: c.UserID})
		if err != nil {
			return fmt.Errorf("get member: %w", err)
		}
		out = memberProto(store.ListMembersRow(row))
		return nil
	})
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	s.membershipChanged(ctx, c.UserID)
	return connect.NewResponse(&codequestv1.AcceptInvitationResponse{Member: out}), nil
}

// DeclineInvitation deletes an invitation: its invitee declines, or the
// organization's instructors, owners or admins withdraw it.
func (s *Service) DeclineInvitation(ctx context.Context, req *connect.Request[codequestv1.DeclineInvitationRequest]) (*connect.Response[codequestv1.DeclineInvitationResponse], error) {
	c, err := signedIn(ctx)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	var v apierr.Validation
	id := parseID(&v, "invitation_id", req.Msg.GetInvitationId())
	if err := v.Err(); err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	err = s.st.InTx(ctx, func(q *store.Queries, _ pgx.Tx) error {
		inv, err := q.GetInvitationForUpdate(ctx, id)
		if store.IsNoRows(err) {
			return errInvitationNotFound
		}
		if err != nil {
			return fmt.Errorf("get invitation: %w", err)
		}
		if inv.UserID != c.UserID {
			role, err := memberRole(ctx, q, inv.OrganizationID, c.UserID)
			if err != nil {
				return err
			}
			if !c.IsAdmin() && policy.OrgRoleRank(role) < policy.OrgRoleRank(policy.OrgRoleInstructor) {
				return errInvitationNotFound
			}
		}
		_, err = q.DeleteInvitation(ctx, id)
		return err
	})
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(&codequestv1.DeclineInvitationResponse{}), nil
}

func invitationPage[R store.ListUserInvitationsRow | store.ListOrganizationInvitationsRow](rows []R, page store.Page) ([]*codequestv1.Invitation, string) {
	next := ""
	if len(rows) > int(page.Size) {
		rows = rows[:page.Size]
		last := store.GetInvitationRow(rows[len(rows)-1])
		next = store.EncodeCursor(last.CreatedAt, last.ID)
	}
	out := []*codequestv1.Invitation{}
	for _, r := range rows {
		out = append(out, invitationProto(store.GetInvitationRow(r)))
	}
	return out, next
}

func invitationProto(r store.GetInvitationRow) *codequestv1.Invitation {
	inv := &codequestv1.Invitation{
		Id: r.ID.String(), OrganizationId: r.OrganizationID.String(), OrganizationName: r.OrganizationName,
		UserId: r.UserID.String(), DisplayName: r.InviteeName, Role: RoleToProto(r.Role),
		CreateTime: timestamppb.New(r.CreatedAt), ExpireTime: timestamppb.New(r.ExpiresAt),
	}
	if r.InvitedBy != nil {
		inv.InvitedBy = r.InvitedBy.String()
	}
	return inv
}
