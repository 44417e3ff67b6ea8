package users_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/apiserver/auth"
	"github.com/codequest-dev/codequest/apiserver/objects"
	"github.com/codequest-dev/codequest/apiserver/store"
)

func TestGetMeAndGetUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	me, u := e.user(t, auth.RoleInstructor)
	other, _ := e.user(t, auth.RoleLearner)
	org, err := e.st.CreateOrganization(me, store.CreateOrganizationParams{Slug: "school", Name: "School", CreatedBy: &u.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.UpsertMembership(me, store.UpsertMembershipParams{OrganizationID: org.ID, UserID: u.ID, Role: "instructor"}); err != nil {
		t.Fatal(err)
	}

	res, err := e.svc.GetMe(me, connect.NewRequest(&codequestv1.GetMeRequest{}))
	wantCode(t, err, 0)
	got := res.Msg.GetUser()
	want := &codequestv1.User{
		Id: u.ID.String(), Email: u.Email, DisplayName: u.DisplayName, Timezone: "UTC",
		Role: codequestv1.Role_ROLE_INSTRUCTOR, CreateTime: got.GetCreateTime(),
		Memberships: []*codequestv1.Membership{{
			OrganizationId: org.ID.String(), OrganizationName: "School",
			Role: codequestv1.OrganizationRole_ORGANIZATION_ROLE_INSTRUCTOR,
		}},
	}
	if !proto.Equal(got, want) {
		t.Errorf("GetMe = %v, want %v", got, want)
	}

	pres, err := e.svc.GetUser(other, connect.NewRequest(&codequestv1.GetUserRequest{UserId: u.ID.String()}))
	wantCode(t, err, 0)
	if p := pres.Msg.GetProfile(); p.GetId() != u.ID.String() || p.GetDisplayName() != u.DisplayName || p.GetRole() != codequestv1.Role_ROLE_INSTRUCTOR {
		t.Errorf("GetUser = %v", p)
	}
	_, err = e.svc.GetUser(other, connect.NewRequest(&codequestv1.GetUserRequest{UserId: "x"}))
	wantCode(t, err, connect.CodeInvalidArgument)
	if diff := cmp.Diff(fields(t, err), []string{"user_id"}); diff != "" {
		t.Errorf("field violations (-got +want):\n%s", diff)
	}
	_, err = e.svc.GetUser(other, connect.NewRequest(&codequestv1.GetUserRequest{UserId: uuid.NewString()}))
	wantCode(t, err, connect.CodeNotFound)
	_, err = e.svc.GetMe(t.Context(), connect.NewRequest(&codequestv1.GetMeRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)
}

func TestUpdateProfile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	me, u := e.user(t, auth.RoleLearner)
	update := func(req *codequestv1.UpdateProfileRequest) (*codequestv1.User, error) {
		res, err := e.svc.UpdateProfile(me, connect.NewRequest(req))
		if err != nil {
			return nil, err
		}
		return res.Msg.GetUser(), nil
	}

	got, err := update(&codequestv1.UpdateProfileRequest{DisplayName: proto.String("  Ada Lovelace\u00a0"), Timezone: proto.String("Europe/Paris")})
	wantCode(t, err, 0)
	if got.GetDisplayName() != "Ada Lovelace" || got.GetTimezone() != "Europe/Paris" || got.GetBio() != "" {
		t.Errorf("after first update: %v", got)
	}
	got, err = update(&codequestv1.UpdateProfileRequest{Bio: proto.String("Poet.\nMathematician.")})
	wantCode(t, err, 0)
	if got.GetDisplayName() != "Ada Lovelace" || got.GetTimezone() != "Europe/Paris" || got.GetBio() != "Poet.\nMathematician." {
		t.Errorf("only the bio should change: %v", got)
	}
	got, err = update(&codequestv1.UpdateProfileRequest{})
	wantCode(t, err, 0)
	if got.GetDisplayName() != "Ada Lovelace" || got.GetEmail() != u.Email {
		t.Errorf("an empty update changed the profile: %v", got)
	}
	// The longest valid values fit the database's constraints.
	_, err = update(&codequestv1.UpdateProfileRequest{DisplayName: proto.String(strings.Repeat("界", 64)), Bio: proto.String(strings.Repeat("é", 500))})
	wantCode(t, err, 0)

	tests := []struct {
		name string
		req  *codequestv1.UpdateProfileRequest
		want []string
	}{
		{"blank name", &codequestv1.UpdateProfileRequest{DisplayName: proto.String(" \t ")}, []string{"display_name"}},
		{"long name", &codequestv1.UpdateProfileRequest{DisplayName: proto.String(strings.Repeat("界", 65))}, []string{"display_name"}},
		{"newline in name", &codequestv1.UpdateProfileRequest{DisplayName: proto.String("a\nb")}, []string{"display_name"}},
		{"invalid utf-8", &codequestv1.UpdateProfileRequest{DisplayName: proto.String("a\xffb")}, []string{"display_name"}},
		{"long bio", &codequestv1.UpdateProfileRequest{Bio: proto.String(strings.Repeat("b", 501))}, []string{"bio"}},
		{"nul in bio", &codequestv1.UpdateProfileRequest{Bio: proto.String("a\x00b")}, []string{"bio"}},
		{"empty zone", &codequestv1.UpdateProfileRequest{Timezone: proto.String("")}, []string{"timezone"}},
		{"local zone", &codequestv1.UpdateProfileRequest{Timezone: proto.String("Local")}, []string{"timezone"}},
		{"unknown zone", &codequestv1.UpdateProfileRequest{Timezone: proto.String("Mars/Olympus_Mons")}, []string{"timezone"}},
		{"path zone", &codequestv1.UpdateProfileRequest{Timezone: proto.String("../../etc/passwd")}, []string{"timezone"}},
		{"everything", &codequestv1.UpdateProfileRequest{
			DisplayName: proto.String(""), Bio: proto.String(strings.Repeat("b", 501)), Timezone: proto.String("Nowhere"),
		}, []string{"bio", "display_name", "timezone"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := update(tt.req)
			wantCode(t, err, connect.CodeInvalidArgument)
			if diff := cmp.Diff(fields(t, err), tt.want); diff != "" {
				t.Errorf("field violations (-got +want):\n%s", diff)
			}
		})
	}
}

// upload PUTs body to a CreateAvatarUpload answer with its headers.
func upload(t *testing.T, res *codequestv1.CreateAvatarUploadResponse, body []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, res.GetUploadUrl(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range res.GetHeaders() {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT avatar: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("PUT avatar: %s: %s", resp.Status, msg)
	}
}

func TestAvatar(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	me, u := e.user(t, auth.RoleLearner)
	other, _ := e.user(t, auth.RoleLearner)
	image := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 1000)...)

	res, err := e.svc.CreateAvatarUpload(me, connect.NewRequest(&codequestv1.CreateAvatarUploadRequest{ContentType: "image/png", SizeBytes: int64(len(image))}))
	wantCode(t, err, 0)
	up := res.Msg
	if !strings.HasPrefix(up.GetObjectKey(), "avatars/"+u.ID.String()+"/") {
		t.Errorf("object key %q is not under the caller's prefix", up.GetObjectKey())
	}
	if got := up.GetHeaders()["Content-Type"]; got != "image/png" {
		t.Errorf("headers = %v, want Content-Type image/png", up.GetHeaders())
	}
	if d := time.Until(up.GetExpireTime().AsTime()); d < 9*time.Minute || d > 10*time.Minute {
		t.Errorf("expires in %v, want about 10 minutes", d)
	}

	confirm := func(ctx context.Context, key string) (*codequestv1.User, error) {
		res, err := e.svc.ConfirmAvatar(ctx, connect.NewRequest(&codequestv1.ConfirmAvatarRequest{ObjectKey: key}))
		if err != nil {
			return nil, err
		}
		return res.Msg.GetUser(), nil
	}
	_, err = confirm(me, up.GetObjectKey())
	wantCode(t, err, connect.CodeFailedPrecondition) // nothing uploaded yet

	upload(t, up, image)
	_, err = confirm(other, up.GetObjectKey())
	wantCode(t, err, connect.CodePermissionDenied)
	got, err := confirm(me, up.GetObjectKey())
	wantCode(t, err, 0)
	if got.GetAvatarUrl() == "" {
		t.Fatal("no avatar_url after ConfirmAvatar")
	}
	resp, err := http.Get(got.GetAvatarUrl())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, image) {
		t.Errorf("GET avatar_url: %s, %d bytes; want the %d uploaded bytes", resp.Status, len(body), len(image))
	}
	pres, err := e.svc.GetUser(other, connect.NewRequest(&codequestv1.GetUserRequest{UserId: u.ID.String()}))
	wantCode(t, err, 0)
	if pres.Msg.GetProfile().GetAvatarUrl() == "" {
		t.Error("public profile has no avatar_url")
	}

	// A second avatar replaces the first, whose object is deleted.
	webp := []byte("RIFF0000WEBP")
	res, err = e.svc.CreateAvatarUpload(me, connect.NewRequest(&codequestv1.CreateAvatarUploadRequest{ContentType: "image/webp", SizeBytes: int64(len(webp))}))
	wantCode(t, err, 0)
	// The URL is signed for the declared length: a bigger body is refused.
	big, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, res.Msg.GetUploadUrl(), bytes.NewReader(bytes.Repeat(webp, 1000)))
	big.Header.Set("Content-Type", "image/webp")
	if resp, err := http.DefaultClient.Do(big); err != nil || resp.StatusCode == http.StatusOK {
		t.Errorf("PUT of more bytes than declared: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	upload(t, res.Msg, webp)
	_, err = confirm(me, res.Msg.GetObjectKey())
	wantCode(t, err, 0)
	if _, err := e.obj.Stat(t.Context(), up.GetObjectKey()); !errors.Is(err, objects.ErrNotFound) {
		t.Errorf("old avatar still stored: %v", err)
	}

	// Objects that are not acceptable images are refused and removed.
	prefix := "avatars/" + u.ID.String() + "/"
	for name, o := range map[string]struct {
		contentType string
		size        int
	}{
		"Wrongtype": {"text/html", 10},
		"Toolarge":  {"image/jpeg", 2<<20 + 1},
	} {
		key := prefix + name
		if err := e.obj.Put(t.Context(), key, bytes.NewReader(make([]byte, o.size)), int64(o.size), o.contentType); err != nil {
			t.Fatal(err)
		}
		_, err := confirm(me, key)
		wantCode(t, err, connect.CodeFailedPrecondition)
		if _, err := e.obj.Stat(t.Context(), key); !errors.Is(err, objects.ErrNotFound) {
			t.Errorf("%s: refused object still stored: %v", name, err)
		}
	}

	for _, key := range []string{"", "avatars/", "avatars/" + u.ID.String() + "/", "avatars/" + u.ID.String() + "/a/b",
		"problems/x", "avatars/" + strings.ToUpper(u.ID.String()) + "/abc", "avatars/" + u.ID.String() + "/../x"} {
		_, err := confirm(me, key)
		wantCode(t, err, connect.CodeInvalidArgument)
	}

	for _, req := range []*codequestv1.CreateAvatarUploadRequest{
		{ContentType: "image/gif", SizeBytes: 10},
		{ContentType: "image/png", SizeBytes: 0},
		{ContentType: "image/png", SizeBytes: 2<<20 + 1},
		{ContentType: "image/png; charset=utf-8", SizeBytes: 10},
	} {
		_, err := e.svc.CreateAvatarUpload(me, connect.NewRequest(req))
		wantCode(t, err, connect.CodeInvalidArgument)
	}
}

func TestListUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin, adminUser := e.user(t, auth.RoleAdmin)
	learner, lu := e.user(t, auth.RoleLearner)
	all := []string{adminUser.ID.String(), lu.ID.String()} // in creation order
	learners := []string{lu.ID.String()}
	for range 7 {
		_, u := e.user(t, auth.RoleLearner)
		all = append(all, u.ID.String())
		learners = append(learners, u.ID.String())
	}
	_, inst := e.user(t, auth.RoleInstructor)
	all = append(all, inst.ID.String())

	list := func(req *codequestv1.ListUsersRequest) []string {
		t.Helper()
		var ids []string
		for pages := 0; ; pages++ {
			if pages > 20 {
				t.Fatal("too many pages")
			}
			res, err := e.svc.ListUsers(admin, connect.NewRequest(req))
			wantCode(t, err, 0)
			if req.GetPageSize() > 0 && len(res.Msg.GetUsers()) > int(req.GetPageSize()) {
				t.Fatalf("page of %d, asked for %d", len(res.Msg.GetUsers()), req.GetPageSize())
			}
			for _, u := range res.Msg.GetUsers() {
				ids = append(ids, u.GetId())
			}
			if req.PageToken = res.Msg.GetNextPageToken(); req.PageToken == "" {
				return ids
			}
		}
	}
	if diff := cmp.Diff(list(&codequestv1.ListUsersRequest{PageSize: 3}), all); diff != "" {
		t.Errorf("all users (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(list(&codequestv1.ListUsersRequest{}), all); diff != "" {
		t.Errorf("all users, default page size (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(list(&codequestv1.ListUsersRequest{PageSize: 2, Role: codequestv1.Role_ROLE_LEARNER}), learners); diff != "" {
		t.Errorf("learners (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(list(&codequestv1.ListUsersRequest{Query: "INSTRUCTOR-"}), []string{inst.ID.String()}); diff != "" {
		t.Errorf("query (-got +want):\n%s", diff)
	}
	if got := list(&codequestv1.ListUsersRequest{Query: "%"}); len(got) != 0 {
		t.Errorf("query %% matched %d users; wildcards must match themselves", len(got))
	}

	org, err := e.st.CreateOrganization(admin, store.CreateOrganizationParams{Slug: "org", Name: "Org"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range learners[2:4] {
		if _, err := e.st.UpsertMembership(admin, store.UpsertMembershipParams{OrganizationID: org.ID, UserID: uuid.MustParse(id), Role: "member"}); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(list(&codequestv1.ListUsersRequest{PageSize: 1, OrganizationId: org.ID.String()}), learners[2:4]); diff != "" {
		t.Errorf("organization members (-got +want):\n%s", diff)
	}

	_, err = e.svc.ListUsers(admin, connect.NewRequest(&codequestv1.ListUsersRequest{
		PageToken: "AAAA", OrganizationId: "org", Role: codequestv1.Role(42), PageSize: -3,
	}))
	wantCode(t, err, connect.CodeInvalidArgument)
	if diff := cmp.Diff(fields(t, err), []string{"organization_id", "page_size", "role"}); diff != "" {
		t.Errorf("field violations (-got +want):\n%s", diff)
	}
	_, err = e.svc.ListUsers(admin, connect.NewRequest(&codequestv1.ListUsersRequest{PageToken: "AAAA"}))
	wantCode(t, err, connect.CodeInvalidArgument)
	if diff := cmp.Diff(fields(t, err), []string{"page_token"}); diff != "" {
		t.Errorf("field violations (-got +want):\n%s", diff)
	}
	_, err = e.svc.ListUsers(learner, connect.NewRequest(&codequestv1.ListUsersRequest{}))
	wantCode(t, err, connect.CodePermissionDenied)
}

func TestSetUserRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin, adminUser := e.user(t, auth.RoleAdmin)
	learner, lu := e.user(t, auth.RoleLearner)
	set := func(ctx context.Context, id string, role codequestv1.Role) (*codequestv1.User, error) {
		res, err := e.svc.SetUserRole(ctx, connect.NewRequest(&codequestv1.SetUserRoleRequest{UserId: id, Role: role}))
		if err != nil {
			return nil, err
		}
		return res.Msg.GetUser(), nil
	}
	got, err := set(admin, lu.ID.String(), codequestv1.Role_ROLE_BUSINESS_PARTNER)
	wantCode(t, err, 0)
	if got.GetRole() != codequestv1.Role_ROLE_BUSINESS_PARTNER {
		t.Errorf("role = %v", got.GetRole())
	}
	_, err = set(admin, adminUser.ID.String(), codequestv1.Role_ROLE_LEARNER)
	wantCode(t, err, connect.CodeFailedPrecondition)
	_, err = set(admin, adminUser.ID.String(), codequestv1.Role_ROLE_ADMIN)
	wantCode(t, err, 0)
	_, err = set(admin, uuid.NewString(), codequestv1.Role_ROLE_LEARNER)
	wantCode(t, err, connect.CodeNotFound)
	_, err = set(admin, "", codequestv1.Role_ROLE_UNSPECIFIED)
	wantCode(t, err, connect.CodeInvalidArgument)
	if diff := cmp.Diff(fields(t, err), []string{"role", "user_id"}); diff != "" {
		t.Errorf("field violations (-got +want):\n%s", diff)
	}
	_, err = set(learner, lu.ID.String(), codequestv1.Role_ROLE_ADMIN)
	wantCode(t, err, connect.CodePermissionDenied)
}
