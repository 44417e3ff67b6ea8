package auth_test

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/go-redis/redis_rate/v10"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/apiserver"
	"github.com/codequest-dev/codequest/apiserver/apitest"
	"github.com/codequest-dev/codequest/apiserver/auth"
)

// A demoted admin's old token stops working at the next call, and cannot
// restore the role; its refresh token is revoked too.
func TestDemotedAdminLosesAccessAtOnce(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := context.Background()
	a, b := env.NewUser(t, auth.RoleAdmin), env.NewUser(t, auth.RoleAdmin)
	asA := env.Clients(a.Auth())
	if _, err := asA.Users.ListUsers(ctx, connect.NewRequest(&codequestv1.ListUsersRequest{})); err != nil {
		t.Fatalf("admin before demotion: %v", err)
	}
	if _, err := env.Clients(b.Auth()).Users.SetUserRole(ctx, connect.NewRequest(&codequestv1.SetUserRoleRequest{
		UserId: a.ID.String(), Role: codequestv1.Role_ROLE_LEARNER})); err != nil {
		t.Fatal(err)
	}
	_, err := asA.Users.SetUserRole(ctx, connect.NewRequest(&codequestv1.SetUserRoleRequest{UserId: a.ID.String(), Role: codequestv1.Role_ROLE_ADMIN}))
	wantCode(t, "the demoted admin's old token restoring its role", err, connect.CodeUnauthenticated)
	_, err = asA.Users.ListUsers(ctx, connect.NewRequest(&codequestv1.ListUsersRequest{}))
	wantCode(t, "the demoted admin's old token on an admin RPC", err, connect.CodeUnauthenticated)
	_, err = env.Clients().Auth.Refresh(ctx, connect.NewRequest(&codequestv1.RefreshRequest{RefreshToken: a.Tokens.GetRefreshToken()}))
	wantCode(t, "the demoted admin's refresh token", err, connect.CodeUnauthenticated)
	// Signed in again, it is a learner.
	res, err := env.Clients().Auth.Login(ctx, connect.NewRequest(&codequestv1.LoginRequest{Email: a.Email, Password: a.Password}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.Clients(apitest.Bearer(res.Msg.GetTokens().GetAccessToken())).Users.SetUserRole(ctx, connect.NewRequest(&codequestv1.SetUserRoleRequest{
		UserId: a.ID.String(), Role: codequestv1.Role_ROLE_ADMIN}))
	wantCode(t, "the learner's new token on SetUserRole", err, connect.CodeUnauthenticated, connect.CodePermissionDenied)
}

// The role comes from the account, not the token: a promotion works at the
// next call of an old token's successor, and a token's claims cannot grant
// what the account does not have.
func TestRoleFromCurrentState(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := context.Background()
	u := env.NewUser(t, auth.RoleLearner)
	// Change the role behind the API's back (as a restore from backup
	// would): the token says admin-less learner, the database says admin,
	// and the database wins once the cached state expires or changes.
	forged, _, err := env.App.Keys.Issue(u.ID, auth.RoleAdmin, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.Clients(apitest.Bearer(forged)).Users.ListUsers(ctx, connect.NewRequest(&codequestv1.ListUsersRequest{}))
	wantCode(t, "a token whose role claim says admin", err, connect.CodePermissionDenied)
}

// Logout, a password reset and a suspension end access tokens at once.
func TestSessionsEnd(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := context.Background()
	me := func(u *apitest.User) error {
		_, err := env.Clients(u.Auth()).Users.GetMe(ctx, connect.NewRequest(&codequestv1.GetMeRequest{}))
		return err
	}

	out := env.NewUser(t, auth.RoleLearner)
	if err := me(out); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Clients().Auth.Logout(ctx, connect.NewRequest(&codequestv1.LogoutRequest{RefreshToken: out.Tokens.GetRefreshToken()})); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "access token after logout", me(out), connect.CodeUnauthenticated)

	reset := env.NewUser(t, auth.RoleLearner)
	if _, err := env.Clients().Auth.ForgotPassword(ctx, connect.NewRequest(&codequestv1.ForgotPasswordRequest{Email: reset.Email})); err != nil {
		t.Fatal(err)
	}
	token, _ := mailedToken(t, env, reset.Email, 1)
	if _, err := env.Clients().Auth.ResetPassword(ctx, connect.NewRequest(&codequestv1.ResetPasswordRequest{Token: token, NewPassword: "Brand-new-pass7"})); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "access token after a password reset", me(reset), connect.CodeUnauthenticated)

	changed := env.NewUser(t, auth.RoleLearner)
	res, err := env.Clients(changed.Auth()).Auth.ChangePassword(ctx, connect.NewRequest(&codequestv1.ChangePasswordRequest{CurrentPassword: changed.Password, NewPassword: "Fresh-pass-42"}))
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "access token after a password change", me(changed), connect.CodeUnauthenticated)
	if _, err := env.Clients(apitest.Bearer(res.Msg.GetTokens().GetAccessToken())).Users.GetMe(ctx, connect.NewRequest(&codequestv1.GetMeRequest{})); err != nil {
		t.Errorf("the tokens ChangePassword returned: %v", err)
	}

	admin, bad := env.NewUser(t, auth.RoleAdmin), env.NewUser(t, auth.RoleLearner)
	if _, err := env.Clients(admin.Auth()).Users.SetUserSuspended(ctx, connect.NewRequest(&codequestv1.SetUserSuspendedRequest{UserId: bad.ID.String(), Suspended: true})); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "access token after suspension", me(bad), connect.CodeUnauthenticated)
	_, err = env.Clients().Auth.Login(ctx, connect.NewRequest(&codequestv1.LoginRequest{Email: bad.Email, Password: bad.Password}))
	wantCode(t, "a suspended account signing in", err, connect.CodePermissionDenied)
	if _, err := env.Clients(admin.Auth()).Users.SetUserSuspended(ctx, connect.NewRequest(&codequestv1.SetUserSuspendedRequest{UserId: bad.ID.String()})); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Clients().Auth.Login(ctx, connect.NewRequest(&codequestv1.LoginRequest{Email: bad.Email, Password: bad.Password})); err != nil {
		t.Errorf("signing in after the suspension is lifted: %v", err)
	}
}

// An attacker who registers the victim's address first never gets in: the
// password that works is the one of the link the victim follows.
func TestNoPreHijacking(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := context.Background()
	c := env.Clients()
	victim := apitest.UniqueEmail("victim")
	register := func(pw, name string) {
		t.Helper()
		if _, err := c.Auth.Register(ctx, connect.NewRequest(&codequestv1.RegisterRequest{Email: victim, Password: pw, DisplayName: name})); err != nil {
			t.Fatal(err)
		}
	}
	register("Attacker-pass-1", "Mallory")
	attackerLink, _ := mailedToken(t, env, victim, 1)
	_, err := c.Auth.Login(ctx, connect.NewRequest(&codequestv1.LoginRequest{Email: victim, Password: "Attacker-pass-1"}))
	wantCode(t, "the attacker before verification", err, connect.CodeUnauthenticated)
	register("Victim-pass-22", "Victor")
	victimLink, _ := mailedToken(t, env, victim, 2)
	_, err = c.Auth.VerifyEmail(ctx, connect.NewRequest(&codequestv1.VerifyEmailRequest{Token: attackerLink}))
	wantCode(t, "the attacker's older link", err, connect.CodeInvalidArgument)
	if _, err := c.Auth.VerifyEmail(ctx, connect.NewRequest(&codequestv1.VerifyEmailRequest{Token: victimLink})); err != nil {
		t.Fatal(err)
	}
	_, err = c.Auth.Login(ctx, connect.NewRequest(&codequestv1.LoginRequest{Email: victim, Password: "Attacker-pass-1"}))
	wantCode(t, "the attacker's password after the victim verified", err, connect.CodeUnauthenticated)
	res, err := c.Auth.Login(ctx, connect.NewRequest(&codequestv1.LoginRequest{Email: victim, Password: "Victim-pass-22"}))
	if err != nil {
		t.Fatalf("the victim's password: %v", err)
	}
	if got := res.Msg.GetUser().GetDisplayName(); got != "Victor" {
		t.Errorf("display name = %q, want the victim's", got)
	}
}

// Login answers the same for an unknown address, an unverified account and
// a wrong password.
func TestLoginNoEnumeration(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := context.Background()
	c := env.Clients()
	known := env.NewUser(t, auth.RoleLearner)
	unverified := apitest.UniqueEmail("unverified")
	if _, err := c.Auth.Register(ctx, connect.NewRequest(&codequestv1.RegisterRequest{Email: unverified, Password: "Pending-pass-3", DisplayName: "P"})); err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, tc := range []struct{ email, pw string }{
		{apitest.UniqueEmail("nobody"), "Pending-pass-3"}, {unverified, "Pending-pass-3"}, {known.Email, "Wrong-pass-99"},
	} {
		_, err := c.Auth.Login(ctx, connect.NewRequest(&codequestv1.LoginRequest{Email: tc.email, Password: tc.pw}))
		var ce *connect.Error
		if !errors.As(err, &ce) || ce.Code() != connect.CodeUnauthenticated {
			t.Fatalf("Login(%s) = %v", tc.email, err)
		}
		msgs = append(msgs, ce.Message())
	}
	if msgs[0] != msgs[1] || msgs[1] != msgs[2] {
		t.Errorf("Login messages differ: %q", msgs)
	}
}

// Registration is limited per address and per client, with Retry-After.
func TestRegisterLimits(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, func(c *apiserver.Config) {
		c.HTTP.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		c.Auth.RegisterPerAddress = redis_rate.Limit{Rate: 2, Burst: 2, Period: time.Hour}
		c.Auth.RegisterPerIP = redis_rate.Limit{Rate: 3, Burst: 3, Period: time.Hour}
	})
	ctx := context.Background()
	from := func(ip string) apitest.Clients { return env.Clients(apitest.Header("X-Forwarded-For", ip)) }
	reg := func(c apitest.Clients, email string) error {
		_, err := c.Auth.Register(ctx, connect.NewRequest(&codequestv1.RegisterRequest{Email: email, Password: "Good-pass-17", DisplayName: "R"}))
		return err
	}
	one := apitest.UniqueEmail("limited")
	for i := range 2 {
		if err := reg(from("203.0.113."+string(rune('1'+i))), one); err != nil {
			t.Fatal(err)
		}
	}
	err := reg(from("203.0.113.9"), one)
	wantCode(t, "a third registration of one address", err, connect.CodeResourceExhausted)
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Meta().Get("Retry-After") == "" {
		t.Errorf("no Retry-After: %v", err)
	}
	c := from("198.51.100.1")
	for range 3 {
		if err := reg(c, apitest.UniqueEmail("spray")); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, "a fourth registration from one client", reg(c, apitest.UniqueEmail("spray")), connect.CodeResourceExhausted)
}

// Past the cap on concurrent password hashes, callers get
// resource_exhausted (with Retry-After), never internal, and the server
// keeps answering.
func TestHashConcurrencyCap(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, func(c *apiserver.Config) {
		c.PasswordHashes, c.PasswordHashWait = 1, 0
	})
	u := env.NewUser(t, auth.RoleLearner)
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]int{}
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := env.Clients().Auth.Login(context.Background(), connect.NewRequest(&codequestv1.LoginRequest{Email: u.Email, Password: u.Password}))
			outcome := "ok"
			if err != nil {
				outcome = connect.CodeOf(err).String()
				var ce *connect.Error
				if errors.As(err, &ce) && ce.Code() == connect.CodeResourceExhausted && ce.Meta().Get("Retry-After") == "" {
					outcome = "no Retry-After"
				}
			}
			mu.Lock()
			seen[outcome]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	for outcome := range seen {
		if outcome != "ok" && outcome != connect.CodeResourceExhausted.String() {
			t.Errorf("%s under load (all: %v)", outcome, seen)
		}
	}
	if seen["ok"] == 0 {
		t.Errorf("no login succeeded: %v", seen)
	}
	if _, err := env.Clients().Auth.Login(context.Background(), connect.NewRequest(&codequestv1.LoginRequest{Email: u.Email, Password: u.Password})); err != nil {
		t.Errorf("login after the burst: %v", err)
	}
}
