package harness_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/redis/go-redis/v9"
	"github.com/wneessen/go-mail"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/codequest-dev/codequest/api/v1alpha1"

	"github.com/codequest-dev/codequest/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// TestPostgresIsolation proves that parallel tests get different, migrated
// databases.
func TestPostgresIsolation(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		names []string
	)
	t.Run("group", func(t *testing.T) {
		for _, sub := range []string{"a", "b"} {
			t.Run(sub, func(t *testing.T) {
				t.Parallel()
				ctx := t.Context()
				db := harness.Postgres(t)
				var name string
				if err := db.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
					t.Fatal(err)
				}
				var users *string
				if err := db.QueryRow(ctx, "SELECT to_regclass('public.users')::text").Scan(&users); err != nil {
					t.Fatal(err)
				}
				if users == nil {
					t.Errorf("database %s has no users table: not migrated", name)
				}
				// Writes stay in this database.
				if _, err := db.Exec(ctx, "CREATE TABLE only_"+sub+" (id int)"); err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				names = append(names, name)
				mu.Unlock()
			})
		}
	})
	if len(names) != 2 || names[0] == names[1] {
		t.Errorf("databases = %q, want two different ones", names)
	}
	// The template is untouched by the tests' writes.
	db := harness.Postgres(t)
	var n int
	if err := db.QueryRow(t.Context(), "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'only_%'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("a fresh database has %d tables made by other tests, want 0", n)
	}
}

func TestEmptyPostgres(t *testing.T) {
	t.Parallel()
	empty, err := pgx.Connect(t.Context(), harness.EmptyPostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = empty.Close(context.Background()) })
	var n int
	if err := empty.QueryRow(t.Context(), "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("empty database has %d tables, want 0", n)
	}
}

func TestRedisIsolation(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b := harness.Redis(t), harness.Redis(t)
	if a.Options().DB == b.Options().DB {
		t.Fatalf("both clients use DB %d", a.Options().DB)
	}
	if err := a.Set(ctx, "k", "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(ctx, "k").Result(); !errors.Is(err, redis.Nil) {
		t.Errorf("b sees k = %q, %v; want redis.Nil", got, err)
	}
	if n, err := a.DBSize(ctx).Result(); err != nil || n != 1 {
		t.Errorf("a's DBSIZE = %d, %v; want 1", n, err)
	}

	opts, err := redis.ParseURL(harness.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	defer c.Close()
	if n, err := c.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Errorf("RedisURL database DBSIZE = %d, %v; want 0", n, err)
	}
}

func TestMinIO(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	obj := harness.MinIO(t)
	want := []byte("hello, bucket")
	if _, err := obj.Client.PutObject(ctx, obj.Bucket, "dir/hello.txt", bytes.NewReader(want), int64(len(want)),
		minio.PutObjectOptions{ContentType: "text/plain"}); err != nil {
		t.Fatal(err)
	}
	r, err := obj.Client.GetObject(ctx, obj.Bucket, "dir/hello.txt", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if other := harness.MinIO(t); other.Bucket == obj.Bucket {
		t.Errorf("two calls gave the same bucket %s", obj.Bucket)
	}
}

func TestMail(t *testing.T) {
	t.Parallel()
	mb := harness.Mail(t)
	to := "mail-test-" + time.Now().Format("150405.000000") + "@example.test"

	msg := mail.NewMsg()
	if err := msg.From("noreply@codequest.test"); err != nil {
		t.Fatal(err)
	}
	if err := msg.To(to); err != nil {
		t.Fatal(err)
	}
	msg.Subject("Verify your email")
	msg.SetBodyString(mail.TypeTextPlain, "Your code is 123456.")
	msg.AddAlternativeString(mail.TypeTextHTML, "<p>Your code is <b>123456</b>.</p>")
	// As the application sends: PLAIN credentials over plain SMTP.
	c, err := mail.NewClient(mb.SMTPHost, mail.WithPort(mb.SMTPPort), mail.WithTLSPolicy(mail.NoTLS),
		mail.WithSMTPAuth(mail.SMTPAuthPlainNoEnc), mail.WithUsername("app"), mail.WithPassword("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DialAndSendWithContext(t.Context(), msg); err != nil {
		t.Fatalf("send: %v", err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	got, err := mb.WaitFor(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "Verify your email" || !bytes.Contains([]byte(got.Text), []byte("123456")) ||
		!bytes.Contains([]byte(got.HTML), []byte("<b>123456</b>")) {
		t.Errorf("got %+v", got)
	}
	if len(got.To) != 1 || got.To[0] != to {
		t.Errorf("To = %q, want [%s]", got.To, to)
	}
	if msgs, err := mb.Messages(ctx, "other-"+to); err != nil || len(msgs) != 0 {
		t.Errorf("Messages(other) = %d messages, %v; want none", len(msgs), err)
	}
}

func TestEnv(t *testing.T) {
	t.Parallel()
	env := harness.NewEnv(t)
	if err := env.DB.Ping(t.Context()); err != nil {
		t.Error(err)
	}
	if err := env.Redis.Ping(t.Context()).Err(); err != nil {
		t.Error(err)
	}
	if ok, err := env.Objects.Client.BucketExists(t.Context(), env.Objects.Bucket); err != nil || !ok {
		t.Errorf("bucket %s exists = %v, %v", env.Objects.Bucket, ok, err)
	}
	if env.Mail.SMTPPort == 0 {
		t.Error("no SMTP port")
	}
}

func TestKube(t *testing.T) {
	t.Parallel()
	a, b := harness.Kube(t), harness.Kube(t)
	if a.Namespace == b.Namespace || !strings.HasPrefix(a.Namespace, "t-testkube-") {
		t.Errorf("namespaces %q and %q", a.Namespace, b.Namespace)
	}
	// The CRDs are installed: a Problem can be created and read back.
	ctx := context.Background()
	list := &v1alpha1.SubmissionList{}
	if err := a.Client.List(ctx, list, client.InNamespace(a.Namespace)); err != nil {
		t.Fatalf("list submissions: %v", err)
	}
	if len(list.Items) != 0 {
		t.Errorf("fresh namespace has %d submissions", len(list.Items))
	}
}
