package users_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/codequest-dev/codequest/apiserver/auth"
	"github.com/codequest-dev/codequest/apiserver/objects"
	"github.com/codequest-dev/codequest/apiserver/session"
	"github.com/codequest-dev/codequest/apiserver/store"
	"github.com/codequest-dev/codequest/apiserver/users"
	"github.com/codequest-dev/codequest/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// env is one test's database, bucket and service.
type env struct {
	st  *store.Store
	obj *objects.Store
	raw *harness.ObjectStore
	svc *users.Service
	n   int
}

func newEnv(t testing.TB) *env {
	t.Helper()
	st := store.Open(harness.Postgres(t))
	raw := harness.MinIO(t)
	obj, err := objects.Open(objects.Config{
		Endpoint: raw.Endpoint, AccessKey: raw.AccessKey, SecretKey: raw.SecretKey,
		UseTLS: raw.Secure, Bucket: raw.Bucket, Region: raw.Region,
	})
	if err != nil {
		t.Fatalf("open object store: %v", err)
	}
	return &env{st: st, obj: obj, raw: raw, svc: users.New(st, obj, session.New(st.Queries, harness.Redis(t), slog.Default()))}
}

// user creates an account with a platform role and returns a context
// signed in as it.
func (e *env) user(t testing.TB, role string) (context.Context, store.User) {
	t.Helper()
	e.n++
	u, err := e.st.CreateUser(t.Context(), store.CreateUserParams{
		Email: fmt.Sprintf("%s-%d@example.test", role, e.n), DisplayName: fmt.Sprintf("%s %d", role, e.n), Role: role,
	})
	if err != nil {
		t.Fatalf("create user: %v", err)
	}
	return auth.WithCaller(t.Context(), &auth.Caller{UserID: u.ID, Role: role}), u
}

// wantCode fails t unless err carries code (no error for 0).
func wantCode(t testing.TB, err error, code connect.Code) {
	t.Helper()
	if code == 0 {
		if err != nil {
			t.Fatalf("error = %v, want none", err)
		}
		return
	}
	if got := connect.CodeOf(err); err == nil || got != code {
		t.Fatalf("error = %v (code %v), want code %v", err, got, code)
	}
}

// fields returns the fields of err's errdetails.BadRequest violations.
func fields(t testing.TB, err error) []string {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a *connect.Error", err)
	}
	var out []string
	for _, d := range ce.Details() {
		v, err := d.Value()
		if err != nil {
			t.Fatalf("detail: %v", err)
		}
		if br, ok := v.(*errdetails.BadRequest); ok {
			for _, fv := range br.GetFieldViolations() {
				out = append(out, fv.GetField())
			}
		}
	}
	slices.Sort(out)
	return out
}
