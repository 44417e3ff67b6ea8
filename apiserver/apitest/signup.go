package apitest

import (
	"context"
	"regexp"
	"testing"

	"connectrpc.com/connect"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/test/harness"
)

// SignUpPassword is the password of the accounts SignUp makes.
const SignUpPassword = "Learn-to-code-1"

var tokenRE = regexp.MustCompile(`token=([A-Za-z0-9_-]+)`)

// SignUp makes an account as a person does, through the public API of c:
// Register, the verification mail from mail, VerifyEmail, Login.
func SignUp(t testing.TB, ctx context.Context, c Clients, mail *harness.Mailbox, name string) *codequestv1.LoginResponse {
	t.Helper()
	email := UniqueEmail(name)
	if _, err := c.Auth.Register(ctx, connect.NewRequest(&codequestv1.RegisterRequest{Email: email, Password: SignUpPassword, DisplayName: name})); err != nil {
		t.Fatalf("Register: %v", err)
	}
	msg, err := mail.WaitFor(ctx, email)
	if err != nil {
		t.Fatalf("verification mail: %v", err)
	}
	m := tokenRE.FindStringSubmatch(msg.Text)
	if m == nil {
		t.Fatalf("no token in %q", msg.Text)
	}
	if _, err := c.Auth.VerifyEmail(ctx, connect.NewRequest(&codequestv1.VerifyEmailRequest{Token: m[1]})); err != nil {
		t.Fatalf("VerifyEmail: %v", err)
	}
	res, err := c.Auth.Login(ctx, connect.NewRequest(&codequestv1.LoginRequest{Email: email, Password: SignUpPassword}))
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	return res.Msg
}
