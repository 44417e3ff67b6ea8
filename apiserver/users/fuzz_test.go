package users_test

import (
	"strings"
	"testing"

	"connectrpc.com/connect"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/apiserver/auth"
)

// FuzzUpdateProfile sends arbitrary profile updates through the handler to
// a real database: none may panic, each is either applied as sent (name
// trimmed) or refused with InvalidArgument and field violations, never
// passed on to fail in Postgres.
func FuzzUpdateProfile(f *testing.F) {
	e := newEnv(f)
	ctx, _ := e.user(f, auth.RoleLearner)
	f.Add(true, " Ada ", true, "bio\nline", true, "Europe/Paris")
	f.Add(true, "", false, "", true, "Local")
	f.Add(false, "", true, strings.Repeat("x", 501), false, "")
	f.Add(true, "a\x00b", true, "\xff", true, "../../../../etc/passwd")
	f.Add(true, strings.Repeat("界", 64), true, "", true, "America/Argentina/Buenos_Aires")
	f.Fuzz(func(t *testing.T, setName bool, name string, setBio bool, bio string, setTZ bool, tz string) {
		req := &codequestv1.UpdateProfileRequest{}
		if setName {
			req.DisplayName = &name
		}
		if setBio {
			req.Bio = &bio
		}
		if setTZ {
			req.Timezone = &tz
		}
		before, err := e.svc.GetMe(ctx, connect.NewRequest(&codequestv1.GetMeRequest{}))
		if err != nil {
			t.Fatalf("GetMe: %v", err)
		}
		res, err := e.svc.UpdateProfile(ctx, connect.NewRequest(req))
		switch connect.CodeOf(err) {
		case connect.CodeInvalidArgument:
			if len(fields(t, err)) == 0 {
				t.Fatalf("InvalidArgument without field violations: %v", err)
			}
			return
		default:
			if err != nil {
				t.Fatalf("UpdateProfile(%v): %v", req, err)
			}
		}
		got, old := res.Msg.GetUser(), before.Msg.GetUser()
		wantName, wantBio, wantTZ := old.GetDisplayName(), old.GetBio(), old.GetTimezone()
		if setName {
			wantName = strings.TrimSpace(name)
		}
		if setBio {
			wantBio = bio
		}
		if setTZ {
			wantTZ = tz
		}
		if got.GetDisplayName() != wantName || got.GetBio() != wantBio || got.GetTimezone() != wantTZ {
			t.Fatalf("after %v: got (%q, %q, %q), want (%q, %q, %q)", req,
				got.GetDisplayName(), got.GetBio(), got.GetTimezone(), wantName, wantBio, wantTZ)
		}
	})
}

// FuzzListUsers sends arbitrary list requests: none may panic, and each is
// answered or refused with InvalidArgument.
func FuzzListUsers(f *testing.F) {
	e := newEnv(f)
	ctx, _ := e.user(f, auth.RoleAdmin)
	f.Add(int32(0), "", int32(0), "", "")
	f.Add(int32(-1), "AAAA", int32(99), "not-a-uuid", "%_\\")
	f.Add(int32(1000), "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", int32(1), "00000000-0000-0000-0000-000000000000", "a\x00")
	f.Fuzz(func(t *testing.T, size int32, token string, role int32, org, query string) {
		res, err := e.svc.ListUsers(ctx, connect.NewRequest(&codequestv1.ListUsersRequest{
			PageSize: size, PageToken: token, Role: codequestv1.Role(role), OrganizationId: org, Query: query,
		}))
		switch connect.CodeOf(err) {
		case connect.CodeInvalidArgument:
			if len(fields(t, err)) == 0 {
				t.Fatalf("InvalidArgument without field violations: %v", err)
			}
		default:
			if err != nil {
				t.Fatalf("ListUsers: %v", err)
			}
			if n := len(res.Msg.GetUsers()); n > 100 {
				t.Fatalf("%d users on one page", n)
			}
		}
	})
}
