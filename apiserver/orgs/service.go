// Package orgs is the OrganizationService: organizations (schools,
// bootcamps, companies) and their members, and the membership lookup the
// policy interceptor uses.
//
// The policy table has already checked sign-in, platform role and the
// caller's membership level when a handler runs. Handlers check the finer
// rules themselves, against the membership they read in the same
// transaction as the change: instructors add members only with the member
// role; owners and admins grant any role; members remove themselves; owners
// and admins remove anyone; an organization never loses its last owner.
package orgs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/api/proto/codequest/v1/codequestv1connect"
	"github.com/codequest-dev/codequest/apiserver/apierr"
	"github.com/codequest-dev/codequest/apiserver/auth"
	"github.com/codequest-dev/codequest/apiserver/policy"
	"github.com/codequest-dev/codequest/apiserver/store"
)

// Listings drops what was cached for a user whose memberships changed
// (problem listings show organization problems to members).
type Listings interface {
	InvalidateUser(ctx context.Context, userID string)
}

// Service implements codequestv1connect.OrganizationServiceHandler.
type Service struct {
	codequestv1connect.UnimplementedOrganizationServiceHandler
	st       *store.Store
	listings Listings
}

var _ codequestv1connect.OrganizationServiceHandler = (*Service)(nil)

// New returns a Service on st; listings (may be nil) learns of membership
// changes.
func New(st *store.Store, listings Listings) *Service {
	return &Service{st: st, listings: listings}
}

// membershipChanged drops the user's cached listings after a committed
// change of their memberships.
func (s *Service) membershipChanged(ctx context.Context, userID uuid.UUID) {
	if s.listings != nil {
		s.listings.InvalidateUser(ctx, userID.String())
	}
}

// Memberships implements policy.Memberships on the store.
type Memberships struct {
	Store *store.Store
}

var _ policy.Memberships = Memberships{}

// OrganizationRole returns userID's role in orgID, or "" when the user is
// not a member (or the organization does not exist).
func (m Memberships) OrganizationRole(ctx context.Context, orgID, userID uuid.UUID) (string, error) {
	return memberRole(ctx, m.Store.Queries, orgID, userID)
}

func memberRole(ctx context.Context, q *store.Queries, orgID, userID uuid.UUID) (string, error) {
	mb, err := q.GetMembership(ctx, store.GetMembershipParams{OrganizationID: orgID, UserID: userID})
	if store.IsNoRows(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("get membership: %w", err)
	}
	return mb.Role, nil
}

func signedIn(ctx context.Context) (*auth.Caller, error) {
	c := auth.CallerFrom(ctx)
	if c == nil {
		return nil, apierr.New(apierr.ErrUnauthenticated, "sign in first")
	}
	return c, nil
}

// requireRole returns the caller's role in orgID, or ErrPermission unless
// the caller is an admin or holds at least the role need.
func requireRole(ctx context.Context, q *store.Queries, c *auth.Caller, orgID uuid.UUID, need string) (string, error) {
	role, err := memberRole(ctx, q, orgID, c.UserID)
	if err != nil {
		return "", err
	}
	if c.IsAdmin() || policy.OrgRoleRank(role) >= policy.OrgRoleRank(need) {
		return role, nil
	}
	if role == "" {
		return "", apierr.New(apierr.ErrPermission, "you are not a member of this organization")
	}
	return "", apierr.New(apierr.ErrPermission, "this needs the %s role in the organization", need)
}

var errOrgNotFound = apierr.New(apierr.ErrNotFound, "organization not found")

// CreateOrganization creates an organization whose owner is the caller.
func (s *Service) CreateOrganization(ctx context.Context, req *connect.Request[codequestv1.CreateOrganizationRequest]) (*connect.Response[codequestv1.CreateOrganizationResponse], error) {
	org, err := s.createOrganization(ctx, req.Msg)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(&codequestv1.CreateOrganizationResponse{Organization: org}), nil
}

func (s *Service) createOrganization(ctx context.Context, m *codequestv1.CreateOrganizationRequest) (*codequestv1.Organization, error) {
	c, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	var v apierr.Validation
	checkSlug(&v, m.GetSlug())
	name := strings.TrimSpace(m.GetName())
	v.CheckText("name", name, true, maxNameLen, false)
	v.CheckText("description", m.GetDescription(), false, maxDescriptionLen, true)
	if err := v.Err(); err != nil {
		return nil, err
	}
	var out *codequestv1.Organization
	err = s.st.InTx(ctx, func(q *store.Queries, _ pgx.Tx) error {
		org, err := q.CreateOrganization(ctx, store.CreateOrganizationParams{
			Slug: m.GetSlug(), Name: name, Description: m.GetDescription(), CreatedBy: &c.UserID,
		})
		if store.IsUniqueViolation(err, "organizations_slug_key") {
			return apierr.New(apierr.ErrAlreadyExists, "an organization with slug %q already exists", m.GetSlug())
		}
		if err != nil {
			return fmt.Errorf("create organization: %w", err)
		}
		if _, err := q.UpsertMembership(ctx, store.UpsertMembershipParams{
			OrganizationID: org.ID, UserID: c.UserID, Role: policy.OrgRoleOwner,
		}); err != nil {
			return fmt.Errorf("add owner: %w", err)
		}
		out = organizationProto(org, 1)
		return nil
	})
	return out, err
}

// GetOrganization returns one organization.
func (s *Service) GetOrganization(ctx context.Context, req *connect.Request[codequestv1.GetOrganizationRequest]) (*connect.Response[codequestv1.GetOrganizationResponse], error) {
	org, err := s.getOrganization(ctx, req.Msg.GetOrganizationId())
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(&codequestv1.GetOrganizationResponse{Organization: org}), nil
}

func (s *Service) getOrganization(ctx context.Context, rawID string) (*codequestv1.Organization, error) {
	c, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	var v apierr.Validation
	id := parseID(&v, "organization_id", rawID)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if _, err := requireRole(ctx, s.st.Queries, c, id, policy.OrgRoleMember); err != nil {
		return nil, err
	}
	return fetchOrganization(ctx, s.st.Queries, id)
}

func fetchOrganization(ctx context.Context, q *store.Queries, id uuid.UUID) (*codequestv1.Organization, error) {
	row, err := q.GetOrganization(ctx, id)
	if store.IsNoRows(err) {
		return nil, errOrgNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get organization: %w", err)
	}
	return organizationRowProto(row), nil
}

// ListOrganizations pages through the caller's organizations, or all of
// them for admins.
func (s *Service) ListOrganizations(ctx context.Context, req *connect.Request[codequestv1.ListOrganizationsRequest]) (*connect.Response[codequestv1.ListOrganizationsResponse], error) {
	res, err := s.listOrganizations(ctx, req.Msg)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(res), nil
}

func (s *Service) listOrganizations(ctx context.Context, m *codequestv1.ListOrganizationsRequest) (*codequestv1.ListOrganizationsResponse, error) {
	c, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	var v apierr.Validation
	page := v.Page(m.GetPageSize(), m.GetPageToken())
	if err := v.Err(); err != nil {
		return nil, err
	}
	params := store.ListOrganizationsParams{AfterTime: page.AfterTime, AfterID: page.AfterID, Lim: page.Limit()}
	if !c.IsAdmin() {
		params.UserID = &c.UserID
	}
	rows, err := s.st.ListOrganizations(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	res := &codequestv1.ListOrganizationsResponse{}
	if len(rows) > int(page.Size) {
		rows = rows[:page.Size]
		last := rows[len(rows)-1]
		res.NextPageToken = store.EncodeCursor(last.CreatedAt, last.ID)
	}
	for _, r := range rows {
		res.Organizations = append(res.Organizations, organizationRowProto(store.GetOrganizationRow(r)))
	}
	return res, nil
}

// UpdateOrganization changes the name or description, whichever is set.
func (s *Service) UpdateOrganization(ctx context.Context, req *connect.Request[codequestv1.UpdateOrganizationRequest]) (*connect.Response[codequestv1.UpdateOrganizationResponse], error) {
	org, err := s.updateOrganization(ctx, req.Msg)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(&codequestv1.UpdateOrganizationResponse{Organization: org}), nil
}

func (s *Service) updateOrganization(ctx context.Context, m *codequestv1.UpdateOrganizationRequest) (*codequestv1.Organization, error) {
	c, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	var v apierr.Validation
	id := parseID(&v, "organization_id", m.GetOrganizationId())
	params := store.UpdateOrganizationParams{ID: id}
	if m.Name != nil {
		name := strings.TrimSpace(m.GetName())
		v.CheckText("name", name, true, maxNameLen, false)
		params.Name = &name
	}
	if m.Description != nil {
		v.CheckText("description", m.GetDescription(), false, maxDescriptionLen, true)
		params.Description = m.Description
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	var out *codequestv1.Organization
	err = s.st.InTx(ctx, func(q *store.Queries, _ pgx.Tx) error {
		if _, err := requireRole(ctx, q, c, id, policy.OrgRoleOwner); err != nil {
			return err
		}
		if _, err := q.UpdateOrganization(ctx, params); store.IsNoRows(err) {
			return errOrgNotFound
		} else if err != nil {
			return fmt.Errorf("update organization: %w", err)
		}
		out, err = fetchOrganization(ctx, q, id)
		return err
	})
	return out, err
}

// AddMember changes the role of a member. Nobody becomes a member without
// accepting an invitation (InviteMember), so for anyone else it answers
// failed_precondition and shows no address.
func (s *Service) AddMember(ctx context.Context, req *connect.Request[codequestv1.AddMemberRequest]) (*connect.Response[codequestv1.AddMemberResponse], error) {
	mb, err := s.addMember(ctx, req.Msg)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(&codequestv1.AddMemberResponse{Member: mb}), nil
}

func (s *Service) addMember(ctx context.Context, m *codequestv1.AddMemberRequest) (*codequestv1.Member, error) {
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
	var out *codequestv1.Member
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
		grantsAny := c.IsAdmin() || callerRole == policy.OrgRoleOwner
		if !grantsAny && role != policy.OrgRoleMember {
			return apierr.New(apierr.ErrPermission, "instructors may only add members with the member role")
		}
		current, err := memberRole(ctx, q, orgID, userID)
		if err != nil {
			return err
		}
		if current == "" {
			return apierr.New(apierr.ErrFailedPrecondition, "the user is not a member; invite them with InviteMember, and they join when they accept")
		}
		if !grantsAny && policy.OrgRoleRank(current) > policy.OrgRoleRank(role) {
			return apierr.New(apierr.ErrPermission, "instructors may not change the role of instructors or owners")
		}
		if current == policy.OrgRoleOwner && role != policy.OrgRoleOwner {
			if err := ensureAnotherOwner(ctx, q, orgID); err != nil {
				return err
			}
		}
		if _, err := q.UpsertMembership(ctx, store.UpsertMembershipParams{OrganizationID: orgID, UserID: userID, Role: role}); err != nil {
			return fmt.Errorf("upsert membership: %w", err)
		}
		row, err := q.GetMember(ctx, store.GetMemberParams{OrganizationID: orgID, UserID: userID})
		if err != nil {
			return fmt.Errorf("get member: %w", err)
		}
		out = memberProto(store.ListMembersRow(row))
		return nil
	})
	if err == nil {
		s.membershipChanged(ctx, userID)
	}
	return out, err
}

// ensureAnotherOwner fails unless orgID has more than one owner; the caller
// holds the organization's row lock.
func ensureAnotherOwner(ctx context.Context, q *store.Queries, orgID uuid.UUID) error {
	n, err := q.CountOwners(ctx, orgID)
	if err != nil {
		return fmt.Errorf("count owners: %w", err)
	}
	if n <= 1 {
		return apierr.New(apierr.ErrFailedPrecondition, "an organization must keep at least one owner; make someone else an owner first")
	}
	return nil
}

// RemoveMember removes a user from an organization.
func (s *Service) RemoveMember(ctx context.Context, req *connect.Request[codequestv1.RemoveMemberRequest]) (*connect.Response[codequestv1.RemoveMemberResponse], error) {
	if err := s.removeMember(ctx, req.Msg); err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(&codequestv1.RemoveMemberResponse{}), nil
}

func (s *Service) removeMember(ctx context.Context, m *codequestv1.RemoveMemberRequest) error {
	c, err := signedIn(ctx)
	if err != nil {
		return err
	}
	var v apierr.Validation
	orgID := parseID(&v, "organization_id", m.GetOrganizationId())
	userID := parseID(&v, "user_id", m.GetUserId())
	if err := v.Err(); err != nil {
		return err
	}
	err = s.st.InTx(ctx, func(q *store.Queries, _ pgx.Tx) error {
		if _, err := q.GetOrganizationForUpdate(ctx, orgID); store.IsNoRows(err) {
			if c.IsAdmin() {
				return errOrgNotFound
			}
			return apierr.New(apierr.ErrPermission, "you are not a member of this organization")
		} else if err != nil {
			return fmt.Errorf("lock organization: %w", err)
		}
		need := policy.OrgRoleOwner
		if userID == c.UserID {
			need = policy.OrgRoleMember
		}
		if _, err := requireRole(ctx, q, c, orgID, need); err != nil {
			if errors.Is(err, apierr.ErrPermission) && need == policy.OrgRoleOwner {
				return apierr.New(apierr.ErrPermission, "only owners and admins may remove other members")
			}
			return err
		}
		current, err := memberRole(ctx, q, orgID, userID)
		if err != nil {
			return err
		}
		switch current {
		case "":
			return apierr.New(apierr.ErrNotFound, "the user is not a member of this organization")
		case policy.OrgRoleOwner:
			if err := ensureAnotherOwner(ctx, q, orgID); err != nil {
				return err
			}
		}
		if _, err := q.DeleteMembership(ctx, store.DeleteMembershipParams{OrganizationID: orgID, UserID: userID}); err != nil {
			return fmt.Errorf("delete membership: %w", err)
		}
		return nil
	})
	if err == nil {
		s.membershipChanged(ctx, userID)
	}
	return err
}

// ListMembers pages through an organization's members.
func (s *Service) ListMembers(ctx context.Context, req *connect.Request[codequestv1.ListMembersRequest]) (*connect.Response[codequestv1.ListMembersResponse], error) {
	res, err := s.listMembers(ctx, req.Msg)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(res), nil
}

func (s *Service) listMembers(ctx context.Context, m *codequestv1.ListMembersRequest) (*codequestv1.ListMembersResponse, error) {
	c, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	var v apierr.Validation
	orgID := parseID(&v, "organization_id", m.GetOrganizationId())
	page := v.Page(m.GetPageSize(), m.GetPageToken())
	if err := v.Err(); err != nil {
		return nil, err
	}
	if _, err := requireRole(ctx, s.st.Queries, c, orgID, policy.OrgRoleMember); err != nil {
		return nil, err
	}
	rows, err := s.st.ListMembers(ctx, store.ListMembersParams{
		OrganizationID: orgID, AfterTime: page.AfterTime, AfterID: page.AfterID, Lim: page.Limit(),
	})
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	if len(rows) == 0 && c.IsAdmin() {
		// Every organization has an owner, so no rows on the first page
		// means no organization; later pages may be empty for a real one.
		if _, err := fetchOrganization(ctx, s.st.Queries, orgID); err != nil {
			return nil, err
		}
	}
	res := &codequestv1.ListMembersResponse{}
	if len(rows) > int(page.Size) {
		rows = rows[:page.Size]
		last := rows[len(rows)-1]
		res.NextPageToken = store.EncodeCursor(last.CreatedAt, last.UserID)
	}
	for _, r := range rows {
		res.Members = append(res.Members, memberProto(r))
	}
	return res, nil
}

func organizationProto(o store.Organization, members int32) *codequestv1.Organization {
	return &codequestv1.Organization{
		Id:          o.ID.String(),
		Slug:        o.Slug,
		Name:        o.Name,
		Description: o.Description,
		MemberCount: members,
		CreateTime:  timestamppb.New(o.CreatedAt),
	}
}

func organizationRowProto(r store.GetOrganizationRow) *codequestv1.Organization {
	return &codequestv1.Organization{
		Id:          r.ID.String(),
		Slug:        r.Slug,
		Name:        r.Name,
		Description: r.Description,
		MemberCount: r.MemberCount,
		CreateTime:  timestamppb.New(r.CreatedAt),
	}
}

func memberProto(r store.ListMembersRow) *codequestv1.Member {
	return &codequestv1.Member{
		UserId:      r.UserID.String(),
		DisplayName: r.DisplayName,
		Email:       r.Email,
		Role:        RoleToProto(r.Role),
		JoinTime:    timestamppb.New(r.CreatedAt),
	}
}
