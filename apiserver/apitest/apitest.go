// Package apitest runs a complete in-process API server against the real
// services of package harness, on a real listener speaking HTTP/1.1 and
// h2c, and hands tests Connect, gRPC and gRPC-web clients.
//
//	func TestMain(m *testing.M) { harness.Main(m) }
//
//	func TestX(t *testing.T) {
//		env := apitest.New(t)
//		alice := env.NewUser(t, auth.RoleLearner)
//		c := env.Clients(alice.Auth())
//		res, err := c.Users.GetMe(ctx, connect.NewRequest(&codequestv1.GetMeRequest{}))
//	}
package apitest

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/go-redis/redis_rate/v10"
	"github.com/google/uuid"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/api/proto/codequest/v1/codequestv1connect"
	"github.com/codequest-dev/codequest/apiserver"
	"github.com/codequest-dev/codequest/apiserver/auth"
	"github.com/codequest-dev/codequest/apiserver/objects"
	"github.com/codequest-dev/codequest/apiserver/store"
	"github.com/codequest-dev/codequest/test/harness"
)

// Env is one test's API server.
type Env struct {
	URL     string
	App     *apiserver.APIServer
	Store   *store.Store
	Harness *harness.Env
	Config  apiserver.Config
	// HTTP speaks HTTP/2 without TLS (h2c), as gRPC needs.
	HTTP *http.Client
	// HTTP1 speaks HTTP/1.1, as curl and browsers without TLS do.
	HTTP1 *http.Client
	stop  func()
}

// Stop shuts the server down (gracefully, as on SIGTERM) before the test
// ends, as a crashed or restarted replica would go away.
func (e *Env) Stop() { e.stop() }

// Option changes the server's configuration before it starts.
type Option func(*apiserver.Config)

// New starts a server for t on its own database, Redis DB, bucket and the
// shared mail sink; it stops when t ends.
func New(t testing.TB, opts ...Option) *Env {
	t.Helper()
	h := harness.NewEnv(t)
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := apiserver.DefaultConfig()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.HTTP.ShutdownTimeout = 5 * time.Second
	cfg.DatabaseURL = h.DatabaseURL
	ro := h.Redis.Options()
	cfg.RedisURL = fmt.Sprintf("redis://%s/%d", ro.Addr, ro.DB)
	cfg.Objects = objects.Config{
		Endpoint: h.Objects.Endpoint, AccessKey: h.Objects.AccessKey, SecretKey: h.Objects.SecretKey,
		UseTLS: h.Objects.Secure, Bucket: h.Objects.Bucket, Region: h.Objects.Region,
	}
	cfg.SMTP.Host, cfg.SMTP.Port = h.Mail.SMTPHost, h.Mail.SMTPPort
	cfg.SigningKey = key
	// Tests sign in often from one address; the rate-limit tests lower these.
	many := redis_rate.PerMinute(10000)
	cfg.Auth.LoginPerIP, cfg.Auth.LoginFailuresPerClient, cfg.Auth.LoginFailuresPerAccount = many, many, many
	cfg.Auth.RegisterPerIP, cfg.Auth.RegisterPerAddress, cfg.Auth.ResetPerIP = many, many, many
	cfg.Auth.ChangePasswordFailures, cfg.Auth.MailPerAccount, cfg.Auth.RegisterGlobal = many, many, many
	// Tests sign in concurrently; the flood benchmark and gate test lower it.
	cfg.HTTP.AuthConcurrency = 64
	// Tests run many servers at once: metrics only where a test asks.
	cfg.HTTP.MetricsAddr = ""
	for _, o := range opts {
		o(&cfg)
	}
	return start(t, h, cfg)
}

// WithKube judges through the given cluster namespace: problems and
// submissions become custom resources there, and their status flows back.
func WithKube(c *harness.Cluster) Option {
	return func(cfg *apiserver.Config) {
		cfg.Kube, cfg.JudgeNamespace = c.Config, c.Namespace
	}
}

// Replica starts a second API server on the same database, Redis, bucket
// and cluster, as another replica behind a load balancer would be.
func (e *Env) Replica(t testing.TB) *Env {
	t.Helper()
	return start(t, e.Harness, e.Config)
}

func start(t testing.TB, h *harness.Env, cfg apiserver.Config) *Env {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := apiserver.New(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatalf("start API server: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("API server: %v", err)
			}
			a.Close()
		})
	}
	t.Cleanup(stop)
	h2c := new(http.Protocols)
	h2c.SetUnencryptedHTTP2(true)
	return &Env{
		stop:    stop,
		URL:     "http://" + ln.Addr().String(),
		App:     a,
		Store:   store.Open(a.Pool),
		Harness: h,
		Config:  cfg,
		HTTP:    &http.Client{Transport: &http.Transport{Protocols: h2c}, Timeout: 60 * time.Second},
		HTTP1:   &http.Client{Transport: &http.Transport{}, Timeout: 60 * time.Second},
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Clients are typed clients of every service.
type Clients struct {
	Auth        codequestv1connect.AuthServiceClient
	Users       codequestv1connect.UserServiceClient
	Orgs        codequestv1connect.OrganizationServiceClient
	Problems    codequestv1connect.ProblemServiceClient
	Submissions codequestv1connect.SubmissionServiceClient
	Leaderboard codequestv1connect.LeaderboardServiceClient
}

// Clients returns clients speaking Connect with binary protobuf unless opts
// say otherwise: connect.WithProtoJSON() for JSON, connect.WithGRPC() or
// connect.WithGRPCWeb() for the other protocols.
func (e *Env) Clients(opts ...connect.ClientOption) Clients {
	return Clients{
		Auth:        codequestv1connect.NewAuthServiceClient(e.HTTP, e.URL, opts...),
		Users:       codequestv1connect.NewUserServiceClient(e.HTTP, e.URL, opts...),
		Orgs:        codequestv1connect.NewOrganizationServiceClient(e.HTTP, e.URL, opts...),
		Problems:    codequestv1connect.NewProblemServiceClient(e.HTTP, e.URL, opts...),
		Submissions: codequestv1connect.NewSubmissionServiceClient(e.HTTP, e.URL, opts...),
		Leaderboard: codequestv1connect.NewLeaderboardServiceClient(e.HTTP, e.URL, opts...),
	}
}

// User is an account made for a test, signed in.
type User struct {
	ID       uuid.UUID
	Email    string
	Password string
	Tokens   *codequestv1.Tokens
}

// Auth returns a client option that sends the user's access token.
func (u *User) Auth() connect.ClientOption {
	return Bearer(u.Tokens.GetAccessToken())
}

// Bearer returns a client option that sends an Authorization header.
func Bearer(token string) connect.ClientOption {
	return Header("Authorization", "Bearer "+token)
}

// Header returns a client option that sends a request header.
func Header(name, value string) connect.ClientOption {
	return connect.WithInterceptors(header{name, value})
}

type header struct{ name, value string }

func (h header) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set(h.name, h.value)
		return next(ctx, req)
	}
}

func (h header) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set(h.name, h.value)
		return conn
	}
}

func (h header) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

var seq atomic.Int64

// UniqueEmail returns an address no other test uses.
func UniqueEmail(prefix string) string {
	return fmt.Sprintf("%s-%d-%s@example.test", prefix, seq.Add(1), uuid.NewString()[:8])
}

// Password is the password NewUser gives accounts.
const Password = "Correct-Horse-9"

// NewUser creates a verified account with the given platform role directly
// in the database and signs it in through Login.
func (e *Env) NewUser(t testing.TB, role string) *User {
	t.Helper()
	ctx := context.Background()
	email := UniqueEmail(role)
	hash, err := auth.Hasher{Params: e.Config.Argon2}.Hash(Password)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	u, err := e.Store.CreateUser(ctx, store.CreateUserParams{Email: email, DisplayName: "Test " + role, Role: role, EmailVerifiedAt: &now})
	if err != nil {
		t.Fatalf("create user: %v", err)
	}
	if err := e.Store.SetPassword(ctx, store.SetPasswordParams{UserID: u.ID, PasswordHash: hash}); err != nil {
		t.Fatalf("set password: %v", err)
	}
	res, err := e.Clients().Auth.Login(ctx, connect.NewRequest(&codequestv1.LoginRequest{Email: email, Password: Password}))
	if err != nil {
		t.Fatalf("login %s: %v", email, err)
	}
	return &User{ID: u.ID, Email: email, Password: Password, Tokens: res.Msg.GetTokens()}
}
