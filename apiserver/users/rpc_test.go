package users_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/api/proto/codequest/v1/codequestv1connect"
	"github.com/codequest-dev/codequest/apiserver/apitest"
	"github.com/codequest-dev/codequest/apiserver/auth"
)

// protocols are the client configurations the RPC tests run under: Connect
// with JSON, and gRPC with binary protobuf.
func protocols(env *apitest.Env, opts ...connect.ClientOption) map[string]codequestv1connect.UserServiceClient {
	return map[string]codequestv1connect.UserServiceClient{
		"connect-json": env.Clients(opts...).Users,
		"grpc":         codequestv1connect.NewUserServiceClient(env.HTTP, env.URL, append([]connect.ClientOption{connect.WithGRPC()}, opts...)...),
	}
}

func TestRPCAccess(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	learner := env.NewUser(t, auth.RoleLearner)
	ctx := t.Context()
	for name, c := range protocols(env) {
		_, err := c.GetMe(ctx, connect.NewRequest(&codequestv1.GetMeRequest{}))
		wantCode(t, err, connect.CodeUnauthenticated)
		_, err = c.GetUser(ctx, connect.NewRequest(&codequestv1.GetUserRequest{UserId: learner.ID.String()}))
		wantCode(t, err, connect.CodeUnauthenticated)
		_, err = c.ListUsers(ctx, connect.NewRequest(&codequestv1.ListUsersRequest{}))
		wantCode(t, err, connect.CodeUnauthenticated)
		t.Logf("%s: anonymous refused", name)
	}
	for name, c := range protocols(env, learner.Auth()) {
		_, err := c.ListUsers(ctx, connect.NewRequest(&codequestv1.ListUsersRequest{}))
		wantCode(t, err, connect.CodePermissionDenied)
		_, err = c.SetUserRole(ctx, connect.NewRequest(&codequestv1.SetUserRoleRequest{UserId: learner.ID.String(), Role: codequestv1.Role_ROLE_ADMIN}))
		wantCode(t, err, connect.CodePermissionDenied)
		res, err := c.GetMe(ctx, connect.NewRequest(&codequestv1.GetMeRequest{}))
		wantCode(t, err, 0)
		if u := res.Msg.GetUser(); u.GetId() != learner.ID.String() || u.GetEmail() != learner.Email || !u.GetEmailVerified() {
			t.Errorf("%s: GetMe = %v", name, u)
		}
	}
}

func TestRPCUpdateProfileValidation(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	u := env.NewUser(t, auth.RoleLearner)
	for name, c := range protocols(env, u.Auth()) {
		_, err := c.UpdateProfile(t.Context(), connect.NewRequest(&codequestv1.UpdateProfileRequest{
			DisplayName: proto.String(" "), Timezone: proto.String("Local"),
		}))
		wantCode(t, err, connect.CodeInvalidArgument)
		if diff := cmp.Diff(fields(t, err), []string{"display_name", "timezone"}); diff != "" {
			t.Errorf("%s: field violations (-got +want):\n%s", name, diff)
		}
		res, err := c.UpdateProfile(t.Context(), connect.NewRequest(&codequestv1.UpdateProfileRequest{Timezone: proto.String("Asia/Tokyo")}))
		wantCode(t, err, 0)
		if res.Msg.GetUser().GetTimezone() != "Asia/Tokyo" {
			t.Errorf("%s: timezone = %q", name, res.Msg.GetUser().GetTimezone())
		}
	}
}

func TestRPCListUsersPages(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	admin := env.NewUser(t, auth.RoleAdmin)
	want := []string{admin.ID.String()}
	for range 4 {
		want = append(want, env.NewUser(t, auth.RoleInstructor).ID.String())
	}
	for name, c := range protocols(env, admin.Auth()) {
		var got []string
		req := &codequestv1.ListUsersRequest{PageSize: 2}
		for pages := 1; ; pages++ {
			res, err := c.ListUsers(t.Context(), connect.NewRequest(req))
			wantCode(t, err, 0)
			for _, u := range res.Msg.GetUsers() {
				got = append(got, u.GetId())
			}
			if req.PageToken = res.Msg.GetNextPageToken(); req.PageToken == "" {
				if pages != 3 {
					t.Errorf("%s: %d pages, want 3", name, pages)
				}
				break
			}
		}
		if diff := cmp.Diff(got, want); diff != "" {
			t.Errorf("%s: users (-got +want):\n%s", name, diff)
		}
		_, err := c.ListUsers(t.Context(), connect.NewRequest(&codequestv1.ListUsersRequest{PageToken: "!!"}))
		wantCode(t, err, connect.CodeInvalidArgument)
		if diff := cmp.Diff(fields(t, err), []string{"page_token"}); diff != "" {
			t.Errorf("%s: field violations (-got +want):\n%s", name, diff)
		}
		_, err = c.SetUserRole(t.Context(), connect.NewRequest(&codequestv1.SetUserRoleRequest{UserId: admin.ID.String(), Role: codequestv1.Role_ROLE_LEARNER}))
		wantCode(t, err, connect.CodeFailedPrecondition)
	}
}

// TestRPCAvatar uploads an avatar the way a client does: ask for a URL,
// PUT the bytes there with plain net/http, confirm, then fetch avatar_url.
func TestRPCAvatar(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	u := env.NewUser(t, auth.RoleLearner)
	c := env.Clients(u.Auth()).Users
	image := append([]byte("\xff\xd8\xff\xe0"), bytes.Repeat([]byte{1}, 4096)...)

	res, err := c.CreateAvatarUpload(t.Context(), connect.NewRequest(&codequestv1.CreateAvatarUploadRequest{ContentType: "image/jpeg", SizeBytes: int64(len(image))}))
	wantCode(t, err, 0)
	upload(t, res.Msg, image)

	// The signature covers the Content-Type: another type is refused.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, res.Msg.GetUploadUrl(), bytes.NewReader(image))
	req.Header.Set("Content-Type", "text/html")
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("PUT with another Content-Type was accepted")
		}
	}

	conf, err := c.ConfirmAvatar(t.Context(), connect.NewRequest(&codequestv1.ConfirmAvatarRequest{ObjectKey: res.Msg.GetObjectKey()}))
	wantCode(t, err, 0)
	me, err := c.GetMe(t.Context(), connect.NewRequest(&codequestv1.GetMeRequest{}))
	wantCode(t, err, 0)
	for _, url := range []string{conf.Msg.GetUser().GetAvatarUrl(), me.Msg.GetUser().GetAvatarUrl()} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, image) {
			t.Errorf("GET %s: %s, %d bytes; want the uploaded %d", url, resp.Status, len(body), len(image))
		}
		if got := resp.Header.Get("Content-Type"); got != "image/jpeg" {
			t.Errorf("avatar Content-Type = %q", got)
		}
	}

	other := env.NewUser(t, auth.RoleLearner)
	_, err = env.Clients(other.Auth()).Users.ConfirmAvatar(t.Context(), connect.NewRequest(&codequestv1.ConfirmAvatarRequest{ObjectKey: res.Msg.GetObjectKey()}))
	wantCode(t, err, connect.CodePermissionDenied)
	_, err = c.CreateAvatarUpload(t.Context(), connect.NewRequest(&codequestv1.CreateAvatarUploadRequest{ContentType: "image/svg+xml", SizeBytes: 3 << 20}))
	wantCode(t, err, connect.CodeInvalidArgument)
	if diff := cmp.Diff(fields(t, err), []string{"content_type", "size_bytes"}); diff != "" {
		t.Errorf("field violations (-got +want):\n%s", diff)
	}
}
