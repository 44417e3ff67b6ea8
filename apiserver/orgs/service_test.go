package orgs_test

import (
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/apiserver/auth"
	"github.com/codequest-dev/codequest/apiserver/orgs"
)

const (
	roleMember     = codequestv1.OrganizationRole_ORGANIZATION_ROLE_MEMBER
	roleInstructor = codequestv1.OrganizationRole_ORGANIZATION_ROLE_INSTRUCTOR
	roleOwner      = codequestv1.OrganizationRole_ORGANIZATION_ROLE_OWNER
)

func TestCreateOrganization(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bp, bpID := e.user(t, auth.RoleBusinessPartner)

	res, err := e.svc.CreateOrganization(bp, connect.NewRequest(&codequestv1.CreateOrganizationRequest{
		Slug: "acme-academy", Name: "  Acme Academy ", Description: "Learn.\nCode.",
	}))
	wantCode(t, err, 0)
	org := res.Msg.GetOrganization()
	if org.GetName() != "Acme Academy" || org.GetSlug() != "acme-academy" || org.GetMemberCount() != 1 || org.GetDescription() != "Learn.\nCode." {
		t.Errorf("created %v", org)
	}
	role, err := orgs.Memberships{Store: e.st}.OrganizationRole(bp, parseUUID(t, org.GetId()), bpID)
	if err != nil || role != "owner" {
		t.Errorf("creator's role = %q, %v; want owner", role, err)
	}

	_, err = e.svc.CreateOrganization(bp, connect.NewRequest(&codequestv1.CreateOrganizationRequest{Slug: "acme-academy", Name: "Again"}))
	wantCode(t, err, connect.CodeAlreadyExists)
	if !strings.Contains(err.Error(), `"acme-academy"`) {
		t.Errorf("duplicate slug error %q does not name the slug", err)
	}
}

func TestCreateOrganizationValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bp, _ := e.user(t, auth.RoleBusinessPartner)
	tests := []struct {
		name string
		req  *codequestv1.CreateOrganizationRequest
		want []string
	}{
		{"empty", &codequestv1.CreateOrganizationRequest{}, []string{"name", "slug"}},
		{"short slug", &codequestv1.CreateOrganizationRequest{Slug: "ab", Name: "A"}, []string{"slug"}},
		{"long slug", &codequestv1.CreateOrganizationRequest{Slug: strings.Repeat("a", 41), Name: "A"}, []string{"slug"}},
		{"upper slug", &codequestv1.CreateOrganizationRequest{Slug: "Acme", Name: "A"}, []string{"slug"}},
		{"dash end", &codequestv1.CreateOrganizationRequest{Slug: "acme-", Name: "A"}, []string{"slug"}},
		{"blank name", &codequestv1.CreateOrganizationRequest{Slug: "acme", Name: "   "}, []string{"name"}},
		{"long name", &codequestv1.CreateOrganizationRequest{Slug: "acme", Name: strings.Repeat("é", 101)}, []string{"name"}},
		{"nul name", &codequestv1.CreateOrganizationRequest{Slug: "acme", Name: "a\x00b"}, []string{"name"}},
		{"long description", &codequestv1.CreateOrganizationRequest{Slug: "acme", Name: "A", Description: strings.Repeat("d", 2001)}, []string{"description"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.CreateOrganization(bp, connect.NewRequest(tt.req))
			wantCode(t, err, connect.CodeInvalidArgument)
			if diff := cmp.Diff(fields(t, err), tt.want); diff != "" {
				t.Errorf("field violations (-got +want):\n%s", diff)
			}
		})
	}
	// The longest valid values are accepted by the database too.
	_, err := e.svc.CreateOrganization(bp, connect.NewRequest(&codequestv1.CreateOrganizationRequest{
		Slug: strings.Repeat("a", 40), Name: strings.Repeat("é", 100), Description: strings.Repeat("d", 2000),
	}))
	wantCode(t, err, 0)
}

func TestAddMember(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner, ownerID := e.user(t, auth.RoleBusinessPartner)
	instructor, instructorID := e.user(t, auth.RoleInstructor)
	member, memberID := e.user(t, auth.RoleLearner)
	outsider, outsiderID := e.user(t, auth.RoleLearner)
	admin, _ := e.user(t, auth.RoleAdmin)
	_, newcomerID := e.user(t, auth.RoleLearner)
	orgID := e.org(t, owner, "school")
	e.add(t, owner, orgID, instructorID, roleInstructor)
	e.add(t, owner, orgID, memberID, roleMember)

	add := func(ctx contextT, userID string, role codequestv1.OrganizationRole) (*codequestv1.Member, error) {
		res, err := e.svc.AddMember(ctx, connect.NewRequest(&codequestv1.AddMemberRequest{OrganizationId: orgID, UserId: userID, Role: role}))
		if err != nil {
			return nil, err
		}
		return res.Msg.GetMember(), nil
	}

	// Nobody becomes a member through AddMember: newcomers are invited.
	_, err := add(instructor, newcomerID.String(), roleMember)
	wantCode(t, err, connect.CodeFailedPrecondition)
	e.add(t, instructor, orgID, newcomerID, roleMember)
	m, err := add(instructor, newcomerID.String(), roleMember)
	wantCode(t, err, 0)
	if m.GetRole() != roleMember || m.GetUserId() != newcomerID.String() || m.GetEmail() == "" || m.GetJoinTime() == nil {
		t.Errorf("member %v", m)
	}
	_, err = add(instructor, newcomerID.String(), roleInstructor)
	wantCode(t, err, connect.CodePermissionDenied)
	_, err = add(instructor, ownerID.String(), roleMember) // would demote the owner
	wantCode(t, err, connect.CodePermissionDenied)
	_, err = add(member, outsiderID.String(), roleMember)
	wantCode(t, err, connect.CodePermissionDenied)
	_, err = add(outsider, outsiderID.String(), roleOwner)
	wantCode(t, err, connect.CodePermissionDenied)

	m, err = add(owner, newcomerID.String(), roleInstructor) // changes the role
	wantCode(t, err, 0)
	if m.GetRole() != roleInstructor {
		t.Errorf("role after the change = %v, want instructor", m.GetRole())
	}
	_, err = add(admin, outsiderID.String(), roleOwner)
	wantCode(t, err, connect.CodeFailedPrecondition)

	_, err = add(owner, "00000000-0000-0000-0000-000000000001", roleMember)
	wantCode(t, err, connect.CodeFailedPrecondition)
	_, err = add(owner, "nope", codequestv1.OrganizationRole_ORGANIZATION_ROLE_UNSPECIFIED)
	wantCode(t, err, connect.CodeInvalidArgument)
	if diff := cmp.Diff(fields(t, err), []string{"role", "user_id"}); diff != "" {
		t.Errorf("field violations (-got +want):\n%s", diff)
	}
	_, err = e.svc.AddMember(admin, connect.NewRequest(&codequestv1.AddMemberRequest{
		OrganizationId: "00000000-0000-0000-0000-000000000002", UserId: memberID.String(), Role: roleMember,
	}))
	wantCode(t, err, connect.CodeNotFound)
}

func TestLastOwner(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner, ownerID := e.user(t, auth.RoleBusinessPartner)
	member, memberID := e.user(t, auth.RoleLearner)
	_, otherID := e.user(t, auth.RoleLearner)
	admin, _ := e.user(t, auth.RoleAdmin)
	orgID := e.org(t, owner, "lonely")
	e.add(t, owner, orgID, memberID, roleMember)
	e.add(t, owner, orgID, otherID, roleMember)

	remove := func(ctx contextT, userID string) error {
		_, err := e.svc.RemoveMember(ctx, connect.NewRequest(&codequestv1.RemoveMemberRequest{OrganizationId: orgID, UserId: userID}))
		return err
	}
	wantCode(t, remove(owner, ownerID.String()), connect.CodeFailedPrecondition)
	wantCode(t, remove(admin, ownerID.String()), connect.CodeFailedPrecondition)
	_, err := e.svc.AddMember(owner, connect.NewRequest(&codequestv1.AddMemberRequest{OrganizationId: orgID, UserId: ownerID.String(), Role: roleMember}))
	wantCode(t, err, connect.CodeFailedPrecondition)

	wantCode(t, remove(member, otherID.String()), connect.CodePermissionDenied)
	wantCode(t, remove(member, memberID.String()), 0)
	wantCode(t, remove(member, memberID.String()), connect.CodePermissionDenied) // no longer a member
	wantCode(t, remove(owner, otherID.String()), 0)
	wantCode(t, remove(owner, otherID.String()), connect.CodeNotFound)

	// With a second owner, the first may leave.
	e.add(t, owner, orgID, memberID, roleOwner)
	wantCode(t, remove(owner, ownerID.String()), 0)
	wantCode(t, remove(member, memberID.String()), connect.CodeFailedPrecondition)
}

// TestLastOwnerRace has two owners remove each other at once: the row lock
// lets exactly one succeed.
func TestLastOwnerRace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 10 {
		a, aID := e.user(t, auth.RoleBusinessPartner)
		b, bID := e.user(t, auth.RoleBusinessPartner)
		orgID := e.org(t, a, "race-"+string(rune('a'+i)))
		e.add(t, a, orgID, bID, roleOwner)

		var wg sync.WaitGroup
		errs := make([]error, 2)
		for j, p := range []struct {
			ctx    contextT
			target string
		}{{a, bID.String()}, {b, aID.String()}} {
			wg.Go(func() {
				_, errs[j] = e.svc.RemoveMember(p.ctx, connect.NewRequest(&codequestv1.RemoveMemberRequest{OrganizationId: orgID, UserId: p.target}))
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch connect.CodeOf(err) {
			case connect.CodeFailedPrecondition, connect.CodePermissionDenied:
			default:
				if err != nil {
					t.Fatalf("RemoveMember: %v", err)
				}
				ok++
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d removals succeeded (%v), want exactly 1", i, ok, errs)
		}
		n, err := e.st.CountOwners(a, parseUUID(t, orgID))
		if err != nil || n != 1 {
			t.Fatalf("round %d: owners = %d, %v; want 1", i, n, err)
		}
	}
}

func TestGetAndUpdateOrganization(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner, _ := e.user(t, auth.RoleBusinessPartner)
	instructor, instructorID := e.user(t, auth.RoleInstructor)
	outsider, _ := e.user(t, auth.RoleLearner)
	admin, _ := e.user(t, auth.RoleAdmin)
	orgID := e.org(t, owner, "bootcamp")
	e.add(t, owner, orgID, instructorID, roleInstructor)

	get := func(ctx contextT) (*codequestv1.Organization, error) {
		res, err := e.svc.GetOrganization(ctx, connect.NewRequest(&codequestv1.GetOrganizationRequest{OrganizationId: orgID}))
		if err != nil {
			return nil, err
		}
		return res.Msg.GetOrganization(), nil
	}
	got, err := get(instructor)
	wantCode(t, err, 0)
	if got.GetMemberCount() != 2 {
		t.Errorf("member_count = %d, want 2", got.GetMemberCount())
	}
	_, err = get(outsider)
	wantCode(t, err, connect.CodePermissionDenied)
	_, err = get(admin)
	wantCode(t, err, 0)
	_, err = e.svc.GetOrganization(admin, connect.NewRequest(&codequestv1.GetOrganizationRequest{OrganizationId: "00000000-0000-0000-0000-000000000003"}))
	wantCode(t, err, connect.CodeNotFound)

	update := func(ctx contextT, req *codequestv1.UpdateOrganizationRequest) (*codequestv1.Organization, error) {
		req.OrganizationId = orgID
		res, err := e.svc.UpdateOrganization(ctx, connect.NewRequest(req))
		if err != nil {
			return nil, err
		}
		return res.Msg.GetOrganization(), nil
	}
	_, err = update(instructor, &codequestv1.UpdateOrganizationRequest{Name: proto.String("Mine")})
	wantCode(t, err, connect.CodePermissionDenied)
	got, err = update(owner, &codequestv1.UpdateOrganizationRequest{Description: proto.String("Twelve weeks.")})
	wantCode(t, err, 0)
	if got.GetName() != "Org bootcamp" || got.GetDescription() != "Twelve weeks." || got.GetMemberCount() != 2 {
		t.Errorf("after description update: %v", got)
	}
	got, err = update(admin, &codequestv1.UpdateOrganizationRequest{Name: proto.String(" Boot Camp ")})
	wantCode(t, err, 0)
	if got.GetName() != "Boot Camp" || got.GetDescription() != "Twelve weeks." {
		t.Errorf("after name update: %v", got)
	}
	_, err = update(owner, &codequestv1.UpdateOrganizationRequest{Name: proto.String("")})
	wantCode(t, err, connect.CodeInvalidArgument)
	if diff := cmp.Diff(fields(t, err), []string{"name"}); diff != "" {
		t.Errorf("field violations (-got +want):\n%s", diff)
	}
}

func TestListOrganizationsPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bp, _ := e.user(t, auth.RoleBusinessPartner)
	other, _ := e.user(t, auth.RoleBusinessPartner)
	admin, _ := e.user(t, auth.RoleAdmin)
	var want []string
	for _, slug := range []string{"one", "two", "three", "four", "five"} {
		want = append(want, e.org(t, bp, "org-"+slug))
	}
	e.org(t, other, "elsewhere")

	list := func(ctx contextT, size int32) []string {
		t.Helper()
		var ids []string
		token := ""
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("too many pages")
			}
			res, err := e.svc.ListOrganizations(ctx, connect.NewRequest(&codequestv1.ListOrganizationsRequest{PageSize: size, PageToken: token}))
			wantCode(t, err, 0)
			if n := len(res.Msg.GetOrganizations()); n > int(size) {
				t.Fatalf("page of %d, asked for %d", n, size)
			}
			for _, o := range res.Msg.GetOrganizations() {
				ids = append(ids, o.GetId())
			}
			if token = res.Msg.GetNextPageToken(); token == "" {
				return ids
			}
		}
	}
	if diff := cmp.Diff(list(bp, 2), want); diff != "" {
		t.Errorf("business partner's organizations (-got +want):\n%s", diff)
	}
	if got := list(admin, 4); len(got) != 6 {
		t.Errorf("admin sees %d organizations, want 6", len(got))
	}
	if got := list(admin, 6); len(got) != 6 {
		t.Errorf("admin sees %d organizations with an exact page, want 6", len(got))
	}

	_, err := e.svc.ListOrganizations(bp, connect.NewRequest(&codequestv1.ListOrganizationsRequest{PageToken: "bogus"}))
	wantCode(t, err, connect.CodeInvalidArgument)
	if diff := cmp.Diff(fields(t, err), []string{"page_token"}); diff != "" {
		t.Errorf("field violations (-got +want):\n%s", diff)
	}
	_, err = e.svc.ListOrganizations(bp, connect.NewRequest(&codequestv1.ListOrganizationsRequest{PageSize: -1}))
	wantCode(t, err, connect.CodeInvalidArgument)
}

func TestListMembersPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner, ownerID := e.user(t, auth.RoleBusinessPartner)
	outsider, _ := e.user(t, auth.RoleLearner)
	orgID := e.org(t, owner, "many")
	want := []string{ownerID.String()}
	for range 6 {
		_, id := e.user(t, auth.RoleLearner)
		e.add(t, owner, orgID, id, roleMember)
		want = append(want, id.String())
	}
	var got []string
	token := ""
	for {
		res, err := e.svc.ListMembers(owner, connect.NewRequest(&codequestv1.ListMembersRequest{OrganizationId: orgID, PageSize: 3, PageToken: token}))
		wantCode(t, err, 0)
		for _, m := range res.Msg.GetMembers() {
			got = append(got, m.GetUserId())
		}
		if token = res.Msg.GetNextPageToken(); token == "" {
			break
		}
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("members in join order (-got +want):\n%s", diff)
	}
	_, err := e.svc.ListMembers(outsider, connect.NewRequest(&codequestv1.ListMembersRequest{OrganizationId: orgID}))
	wantCode(t, err, connect.CodePermissionDenied)
}

func TestUnauthenticated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.svc.ListOrganizations(t.Context(), connect.NewRequest(&codequestv1.ListOrganizationsRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)
	_, err = e.svc.CreateOrganization(t.Context(), connect.NewRequest(&codequestv1.CreateOrganizationRequest{Slug: "abc", Name: "A"}))
	wantCode(t, err, connect.CodeUnauthenticated)
}
