package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/codequest-dev/codequest/apiserver/auth"
	"github.com/codequest-dev/codequest/apiserver/store"
	"github.com/codequest-dev/codequest/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// TestAdmin: `codequest admin` makes a verified administrator whose password
// works, gives an existing account another role without touching its
// password, and refuses a weak password or a bad address.
func TestAdmin(t *testing.T) {
	ctx := context.Background()
	env := harness.NewEnv(t)
	st := store.Open(env.DB)
	pw := filepath.Join(t.TempDir(), "pw")
	write := func(s string) {
		if err := os.WriteFile(pw, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) error {
		return admin(ctx, append([]string{"--database-url", env.DatabaseURL, "--password-file", pw}, args...))
	}

	write("Str0ng-enough\n")
	if err := run("--email", " Root@Example.com "); err != nil {
		t.Fatal(err)
	}
	u, err := st.GetUserByEmail(ctx, "root@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if u.Role != auth.RoleAdmin || u.EmailVerifiedAt == nil {
		t.Fatalf("role %q, verified %v; want admin, verified", u.Role, u.EmailVerifiedAt)
	}
	hash, err := st.GetPassword(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, err := (auth.Hasher{Params: auth.OWASPParams}).Verify("Str0ng-enough", hash); err != nil || !ok {
		t.Fatalf("password does not verify: %v %v", ok, err)
	}

	write("An0ther-password\n")
	if err := run("--email", "root@example.com", "--role", "instructor"); err != nil {
		t.Fatal(err)
	}
	u, _ = st.GetUserByEmail(ctx, "root@example.com")
	hash2, _ := st.GetPassword(ctx, u.ID)
	if u.Role != auth.RoleInstructor || hash2 != hash {
		t.Fatalf("after promotion: role %q, password changed %v", u.Role, hash2 != hash)
	}

	for _, tc := range []struct{ pw, email, role, want string }{
		{"weak\n", "new@example.com", "admin", "at least 8"},
		{"Str0ng-enough\n", "not-an-address", "admin", "email"},
		{"Str0ng-enough\n", "new@example.com", "root", "unknown role"},
	} {
		write(tc.pw)
		err := run("--email", tc.email, "--role", tc.role)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s %q: err %v, want %q", tc.email, tc.role, tc.pw, err, tc.want)
		}
	}
	if _, err := st.GetUserByEmail(ctx, "new@example.com"); !store.IsNoRows(err) {
		t.Errorf("a refused call made an account: %v", err)
	}
}
