package auth_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/go-redis/redis_rate/v10"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/api/proto/codequest/v1/codequestv1connect"
	"github.com/codequest-dev/codequest/apiserver"
	"github.com/codequest-dev/codequest/apiserver/apitest"
	"github.com/codequest-dev/codequest/apiserver/auth"
	"github.com/codequest-dev/codequest/apiserver/store"
	"github.com/codequest-dev/codequest/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

var tokenRE = regexp.MustCompile(`token=([A-Za-z0-9_-]+)`)

// mailedToken waits for the n-th mail to addr and returns the token in it.
func mailedToken(t *testing.T, env *apitest.Env, addr string, n int) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs, err := env.Harness.Mail.WaitForN(ctx, addr, n)
	if err != nil {
		t.Fatalf("mail to %s: %v", addr, err)
	}
	m := msgs[n-1]
	match := tokenRE.FindStringSubmatch(m.Text)
	if match == nil {
		t.Fatalf("mail %q has no token: %s", m.Subject, m.Text)
	}
	return match[1], m.Subject
}

func code(err error) connect.Code { return connect.CodeOf(err) }

func wantCode(t *testing.T, what string, err error, want connect.Code, alsoOK ...connect.Code) {
	t.Helper()
	got := code(err)
	if err != nil && (got == want || slices.Contains(alsoOK, got)) {
		return
	}
	t.Fatalf("%s: got %v (%v), want %v", what, got, err, want)
}

func TestRegisterVerifyLogin(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := context.Background()
	c := env.Clients()
	email := apitest.UniqueEmail("reg")

	_, err := c.Auth.Register(ctx, connect.NewRequest(&codequestv1.RegisterRequest{
		Email: "  " + strings.ToUpper(email) + " ", Password: "Sup3r-secret", DisplayName: "Ada",
	}))
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	_, err = c.Auth.Login(ctx, connect.NewRequest(&codequestv1.LoginRequest{Email: email, Password: "Sup3r-secret"}))
	wantCode(t, "Login before verifying (the same answer as a wrong password)", err, connect.CodeUnauthenticated)

	token, subject := mailedToken(t, env, email, 1)
	if !strings.Contains(subject, "Verify") {
		t.Errorf("subject = %q", subject)
	}
	if _, err := c.Auth.VerifyEmail(ctx, connect.NewRequest(&codequestv1.VerifyEmailRequest{Token: token})); err != nil {
		t.Fatalf("VerifyEmail: %v", err)
	}
	_, err = c.Auth.VerifyEmail(ctx, connect.NewRequest(&codequestv1.VerifyEmailRequest{Token: token}))
	wantCode(t, "second VerifyEmail with the same token", err, connect.CodeInvalidArgument)

	res, err := c.Auth.Login(ctx, connect.NewRequest(&codequestv1.LoginRequest{Email: email, Password: "Sup3r-secret"}))
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if res.Msg.GetUser().GetEmail() != email || !res.Msg.GetUser().GetEmailVerified() {
		t.Errorf("user = %v", res.Msg.GetUser())
	}
	claims, err := env.App.Keys.Parse(res.Msg.GetTokens().GetAccessToken())
	if err != nil {
		t.Fatalf("parse issued token: %v", err)
	}
	if claims.Subject != res.Msg.GetUser().GetId() || claims.Role != auth.RoleLearner {
		t.Errorf("claims = %+v", claims)
	}
	if ttl := time.Until(claims.ExpiresAt.Time); ttl > auth.AccessTokenTTL || ttl < auth.AccessTokenTTL-time.Minute {
		t.Errorf("access token lives %v", ttl)
	}
	_, err = c.Auth.Login(ctx, connect.NewRequest(&codequestv1.LoginRequest{Email: email, Password: "Wrong-passw0rd"}))
	wantCode(t, "Login with a wrong password", err, connect.CodeUnauthenticated)
}

func TestRegisterValidation(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	_, err := env.Clients().Auth.Register(context.Background(), connect.NewRequest(&codequestv1.RegisterRequest{
		Email: "not-an-email", Password: "short", DisplayName: "",
	}))
	wantCode(t, "Register with bad fields", err, connect.CodeInvalidArgument)
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatal(err)
	}
	fields := map[string]bool{}
	for _, d := range ce.Details() {
		v, err := d.Value()
		if err != nil {
			t.Fatal(err)
		}
		if br, ok := v.(*errdetails.BadRequest); ok {
			for _, fv := range br.GetFieldViolations() {
				fields[fv.GetField()] = true
			}
		}
	}
	for _, f := range []string{"email", "password", "display_name"} {
		if !fields[f] {
			t.Errorf("no field violation for %s in %v", f, ce.Details())
		}
	}
}

// Known and unknown addresses get byte-identical answers from Register,
// ForgotPassword and ResendVerification; only the mailbox tells them apart.
func TestNoAccountEnumeration(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	known := env.NewUser(t, auth.RoleLearner)
	unknown := apitest.UniqueEmail("nobody")
	post := func(proc, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, env.URL+proc, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		res, err := env.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for _, proc := range []string{
		"/codequest.v1.AuthService/ForgotPassword",
		"/codequest.v1.AuthService/ResendVerification",
	} {
		s1, b1 := post(proc, `{"email":"`+known.Email+`"}`)
		s2, b2 := post(proc, `{"email":"`+unknown+`"}`)
		if s1 != s2 || b1 != b2 || s1 != http.StatusOK {
			t.Errorf("%s: known → %d %q, unknown → %d %q", proc, s1, b1, s2, b2)
		}
	}
	s1, b1 := post("/codequest.v1.AuthService/Register", `{"email":"`+known.Email+`","password":"Another-pass1","displayName":"X"}`)
	s2, b2 := post("/codequest.v1.AuthService/Register", `{"email":"`+unknown+`","password":"Another-pass1","displayName":"X"}`)
	if s1 != s2 || b1 != b2 || s1 != http.StatusOK {
		t.Errorf("Register: known → %d %q, unknown → %d %q", s1, b1, s2, b2)
	}
	// The known account got a reset mail and a "someone tried" notice.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs, err := env.Harness.Mail.WaitForN(ctx, known.Email, 2)
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for _, m := range msgs {
		subjects = append(subjects, m.Subject)
	}
	if !strings.Contains(strings.Join(subjects, "|"), "Reset your CodeQuest password") {
		t.Errorf("known account's mail: %v", subjects)
	}
}

func TestRefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := context.Background()
	c := env.Clients()
	u := env.NewUser(t, auth.RoleLearner)
	first := u.Tokens.GetRefreshToken()

	r1, err := c.Auth.Refresh(ctx, connect.NewRequest(&codequestv1.RefreshRequest{RefreshToken: first}))
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	second := r1.Msg.GetTokens().GetRefreshToken()
	if second == first || second == "" {
		t.Fatalf("refresh token not rotated")
	}
	// Replaying the first token is reuse: refused, and the family dies, so
	// the legitimate second token stops working too.
	_, err = c.Auth.Refresh(ctx, connect.NewRequest(&codequestv1.RefreshRequest{RefreshToken: first}))
	wantCode(t, "reused refresh token", err, connect.CodeUnauthenticated)
	_, err = c.Auth.Refresh(ctx, connect.NewRequest(&codequestv1.RefreshRequest{RefreshToken: second}))
	wantCode(t, "descendant of a reused token", err, connect.CodeUnauthenticated)

	// Another session (another family) is untouched.
	other, err := c.Auth.Login(ctx, connect.NewRequest(&codequestv1.LoginRequest{Email: u.Email, Password: u.Password}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Auth.Refresh(ctx, connect.NewRequest(&codequestv1.RefreshRequest{RefreshToken: other.Msg.GetTokens().GetRefreshToken()})); err != nil {
		t.Errorf("unrelated session refused: %v", err)
	}
	// The database keeps only hashes.
	var n int
	if err := env.App.Pool.QueryRow(ctx, `SELECT count(*) FROM refresh_tokens WHERE token_hash = $1::bytea`, []byte(first)).Scan(&n); err != nil || n != 0 {
		t.Errorf("clear token stored: n=%d err=%v", n, err)
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := context.Background()
	c := env.Clients()
	u := env.NewUser(t, auth.RoleLearner)
	if _, err := c.Auth.Logout(ctx, connect.NewRequest(&codequestv1.LogoutRequest{RefreshToken: u.Tokens.GetRefreshToken()})); err != nil {
		t.Fatal(err)
	}
	_, err := c.Auth.Refresh(ctx, connect.NewRequest(&codequestv1.RefreshRequest{RefreshToken: u.Tokens.GetRefreshToken()}))
	wantCode(t, "refresh after logout", err, connect.CodeUnauthenticated)
	if _, err := c.Auth.Logout(ctx, connect.NewRequest(&codequestv1.LogoutRequest{RefreshToken: u.Tokens.GetRefreshToken()})); err != nil {
		t.Errorf("second logout: %v", err)
	}
}

func TestPasswordReset(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := context.Background()
	c := env.Clients()
	u := env.NewUser(t, auth.RoleLearner)
	if _, err := c.Auth.ForgotPassword(ctx, connect.NewRequest(&codequestv1.ForgotPasswordRequest{Email: u.Email})); err != nil {
		t.Fatal(err)
	}
	token, _ := mailedToken(t, env, u.Email, 1)
	_, err := c.Auth.ResetPassword(ctx, connect.NewRequest(&codequestv1.ResetPasswordRequest{Token: token, NewPassword: "weak"}))
	wantCode(t, "weak new password", err, connect.CodeInvalidArgument)
	if _, err := c.Auth.ResetPassword(ctx, connect.NewRequest(&codequestv1.ResetPasswordRequest{Token: token, NewPassword: "Brand-new-pass7"})); err != nil {
		t.Fatalf("ResetPassword: %v", err)
	}
	_, err = c.Auth.ResetPassword(ctx, connect.NewRequest(&codequestv1.ResetPasswordRequest{Token: token, NewPassword: "Other-new-pass8"}))
	wantCode(t, "reset token reused", err, connect.CodeInvalidArgument)
	_, err = c.Auth.Refresh(ctx, connect.NewRequest(&codequestv1.RefreshRequest{RefreshToken: u.Tokens.GetRefreshToken()}))
	wantCode(t, "old session after reset", err, connect.CodeUnauthenticated)
	_, err = c.Auth.Login(ctx, connect.NewRequest(&codequestv1.LoginRequest{Email: u.Email, Password: u.Password}))
	wantCode(t, "old password", err, connect.CodeUnauthenticated)
	if _, err := c.Auth.Login(ctx, connect.NewRequest(&codequestv1.LoginRequest{Email: u.Email, Password: "Brand-new-pass7"})); err != nil {
		t.Errorf("new password: %v", err)
	}
}

func TestChangePassword(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := context.Background()
	u := env.NewUser(t, auth.RoleLearner)
	c := env.Clients(u.Auth())
	_, err := env.Clients().Auth.ChangePassword(ctx, connect.NewRequest(&codequestv1.ChangePasswordRequest{CurrentPassword: u.Password, NewPassword: "Fresh-pass-42"}))
	wantCode(t, "ChangePassword signed out", err, connect.CodeUnauthenticated)
	_, err = c.Auth.ChangePassword(ctx, connect.NewRequest(&codequestv1.ChangePasswordRequest{CurrentPassword: "Not-it-123", NewPassword: "Fresh-pass-42"}))
	wantCode(t, "wrong current password", err, connect.CodeInvalidArgument)
	if _, err := c.Auth.ChangePassword(ctx, connect.NewRequest(&codequestv1.ChangePasswordRequest{CurrentPassword: u.Password, NewPassword: "Fresh-pass-42"})); err != nil {
		t.Fatal(err)
	}
	_, err = c.Auth.Refresh(ctx, connect.NewRequest(&codequestv1.RefreshRequest{RefreshToken: u.Tokens.GetRefreshToken()}))
	wantCode(t, "session after password change", err, connect.CodeUnauthenticated)
	if _, err := env.Clients().Auth.Login(ctx, connect.NewRequest(&codequestv1.LoginRequest{Email: u.Email, Password: "Fresh-pass-42"})); err != nil {
		t.Errorf("login with new password: %v", err)
	}
}

// loginFrom signs in as if from client address ip (the test server trusts
// the loopback proxy's X-Forwarded-For).
func loginFrom(env *apitest.Env, ip, email, password string) error {
	c := codequestv1connect.NewAuthServiceClient(env.HTTP, env.URL, apitest.Header("X-Forwarded-For", ip))
	_, err := c.Login(context.Background(), connect.NewRequest(&codequestv1.LoginRequest{Email: email, Password: password}))
	return err
}

// Failures lock one client out of one account; the owner elsewhere still
// signs in; the looser per-account limit stops a spread-out attack, and a
// password reset (the owner's mailbox) lifts it.
func TestLoginLockout(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, func(c *apiserver.Config) {
		c.HTTP.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		c.Auth.LoginFailuresPerClient = redis_rate.Limit{Rate: 3, Burst: 3, Period: time.Hour}
		c.Auth.LoginFailuresPerAccount = redis_rate.Limit{Rate: 6, Burst: 6, Period: time.Hour}
	})
	u := env.NewUser(t, auth.RoleLearner)
	for range 3 {
		wantCode(t, "wrong password", loginFrom(env, "203.0.113.1", u.Email, "Wrong-pass-1"), connect.CodeUnauthenticated)
	}
	err := loginFrom(env, "203.0.113.1", u.Email, u.Password)
	wantCode(t, "the attacker's client after 3 failures, even with the password", err, connect.CodeResourceExhausted)
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Meta().Get("Retry-After") == "" {
		t.Errorf("no Retry-After in %v", err)
	}
	if err := loginFrom(env, "198.51.100.7", u.Email, u.Password); err != nil {
		t.Errorf("the owner from another address is locked out: %v", err)
	}
	// Other accounts from the attacker's address are not affected.
	other := env.NewUser(t, auth.RoleLearner)
	if err := loginFrom(env, "203.0.113.1", other.Email, other.Password); err != nil {
		t.Errorf("another account from the same address: %v", err)
	}
	// Spread over addresses, failures reach the per-account limit.
	for i := range 3 {
		wantCode(t, "spread failure", loginFrom(env, fmt.Sprintf("203.0.113.%d", 10+i), u.Email, "Wrong-pass-1"), connect.CodeUnauthenticated)
	}
	wantCode(t, "past the per-account limit", loginFrom(env, "198.51.100.7", u.Email, u.Password), connect.CodeResourceExhausted)
	// The owner proves the mailbox: the account's limit is lifted.
	c := env.Clients()
	if _, err := c.Auth.ForgotPassword(context.Background(), connect.NewRequest(&codequestv1.ForgotPasswordRequest{Email: u.Email})); err != nil {
		t.Fatal(err)
	}
	token, _ := mailedToken(t, env, u.Email, 1)
	if _, err := c.Auth.ResetPassword(context.Background(), connect.NewRequest(&codequestv1.ResetPasswordRequest{Token: token, NewPassword: "Owner-again-42"})); err != nil {
		t.Fatal(err)
	}
	if err := loginFrom(env, "198.51.100.7", u.Email, "Owner-again-42"); err != nil {
		t.Errorf("the owner after a reset: %v", err)
	}
}

func TestLoginRateLimitPerIP(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, func(c *apiserver.Config) {
		c.Auth.LoginPerIP = redis_rate.Limit{Rate: 2, Burst: 2, Period: time.Minute}
	})
	c := env.Clients()
	var last error
	for i := range 3 {
		_, last = c.Auth.Login(context.Background(), connect.NewRequest(&codequestv1.LoginRequest{Email: apitest.UniqueEmail("ip"), Password: "Whatever-1"}))
		if i < 2 {
			wantCode(t, "unknown account", last, connect.CodeUnauthenticated)
		}
	}
	wantCode(t, "third attempt from one address", last, connect.CodeResourceExhausted)
}

func TestRehashOnLogin(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := context.Background()
	u := env.NewUser(t, auth.RoleLearner)
	weak := auth.Hasher{Params: auth.Argon2Params{MemoryKiB: 8 * 1024, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}}
	h, err := weak.Hash(u.Password)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Store.SetPassword(ctx, store.SetPasswordParams{UserID: u.ID, PasswordHash: h}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Clients().Auth.Login(ctx, connect.NewRequest(&codequestv1.LoginRequest{Email: u.Email, Password: u.Password})); err != nil {
		t.Fatal(err)
	}
	got, err := env.Store.GetPassword(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "m=19456,t=2,p=1") {
		t.Errorf("hash not upgraded: %s", got)
	}
}

// The same calls work over gRPC and gRPC-web in binary protobuf, and over
// Connect in JSON.
func TestProtocols(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := context.Background()
	for name, opt := range map[string]connect.ClientOption{
		"grpc":     connect.WithGRPC(),
		"grpc-web": connect.WithGRPCWeb(),
		"connect":  connect.WithProtoJSON(),
	} {
		c := env.Clients(opt)
		u := env.NewUser(t, auth.RoleLearner)
		res, err := c.Auth.Login(ctx, connect.NewRequest(&codequestv1.LoginRequest{Email: u.Email, Password: u.Password}))
		if err != nil {
			t.Fatalf("%s Login: %v", name, err)
		}
		_, err = c.Auth.Login(ctx, connect.NewRequest(&codequestv1.LoginRequest{Email: u.Email, Password: "Nope-nope-1"}))
		wantCode(t, name+" bad login", err, connect.CodeUnauthenticated)
		if res.Msg.GetUser().GetEmail() != u.Email || res.Msg.GetTokens().GetAccessToken() == "" {
			t.Errorf("%s: empty tokens", name)
		}
		_, err = c.Auth.Register(ctx, connect.NewRequest(&codequestv1.RegisterRequest{Email: apitest.UniqueEmail(name), Password: "Good-pass-1", DisplayName: "P"}))
		if err != nil {
			t.Errorf("%s Register: %v", name, err)
		}
	}
}
