// Package apiserver is the CodeQuest API server: it opens Postgres, Redis
// and object storage, builds the domain services and serves them over
// Connect, gRPC and gRPC-web on one port, and works the durable jobs the
// services enqueue (River).
package apiserver

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"time"

	"connectrpc.com/connect"
	"github.com/go-redis/redis_rate/v10"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"k8s.io/client-go/rest"

	"github.com/codequest-dev/codequest/api/proto/codequest/v1/codequestv1connect"
	"github.com/codequest-dev/codequest/apiserver/auth"
	"github.com/codequest-dev/codequest/apiserver/kube"
	"github.com/codequest-dev/codequest/apiserver/mail"
	"github.com/codequest-dev/codequest/apiserver/objects"
	"github.com/codequest-dev/codequest/apiserver/orgs"
	"github.com/codequest-dev/codequest/apiserver/passwords"
	"github.com/codequest-dev/codequest/apiserver/policy"
	"github.com/codequest-dev/codequest/apiserver/problems"
	"github.com/codequest-dev/codequest/apiserver/server"
	"github.com/codequest-dev/codequest/apiserver/session"
	"github.com/codequest-dev/codequest/apiserver/store"
	"github.com/codequest-dev/codequest/apiserver/submissions"
	"github.com/codequest-dev/codequest/apiserver/users"
)

// Config is everything `codequest serve` needs.
type Config struct {
	HTTP        server.Config
	DatabaseURL string
	RedisURL    string
	Objects     objects.Config
	SMTP        mail.SMTPConfig
	Auth        auth.Config
	// JWTIssuer and JWTAudience go into every access token.
	JWTIssuer   string
	JWTAudience string
	// SigningKey signs access tokens; VerifyKeys are older keys still
	// accepted (rotation).
	SigningKey ed25519.PrivateKey
	VerifyKeys []ed25519.PublicKey
	// Argon2 are the password hashing parameters.
	Argon2 auth.Argon2Params
	// PasswordHashes caps the password hashes computed at once; a request
	// waits at most PasswordHashWait for a slot, then gets
	// resource_exhausted.
	PasswordHashes   int
	PasswordHashWait time.Duration
	// Kube is the cluster where Problems and Submissions are judged; nil
	// leaves judging off (Submit and Run answer failed_precondition).
	Kube *rest.Config
	// JudgeNamespace holds the Problem and Submission resources.
	JudgeNamespace string
	// Submissions tunes Submit and Run.
	Submissions submissions.Config
	// MailWorkers is how many mail jobs run at once; 0 disables the job
	// worker in this process (another replica works them).
	MailWorkers int
}

// DefaultConfig returns the defaults documented in README.md.
func DefaultConfig() Config {
	return Config{
		HTTP:        server.DefaultConfig(),
		DatabaseURL: "postgres://codequest@127.0.0.1:5432/codequest",
		RedisURL:    "redis://127.0.0.1:6379/0",
		Objects:     objects.Config{Endpoint: "127.0.0.1:9000", Bucket: "codequest", Region: "us-east-1"},
		SMTP:        mail.SMTPConfig{Host: "127.0.0.1", Port: 1025, From: "CodeQuest <no-reply@codequest.dev>"},
		Auth:        auth.DefaultConfig(),
		JWTIssuer:   "codequest",
		JWTAudience: "codequest-api",
		Argon2:      auth.OWASPParams,
		// Half the CPUs: hashing never takes the cores other calls need.
		PasswordHashes:   max(1, runtime.GOMAXPROCS(0)/2),
		PasswordHashWait: 2 * time.Second,
		MailWorkers:      4,
		JudgeNamespace:   "codequest-judge",
		Submissions:      submissions.DefaultConfig(),
	}
}

// APIServer is a running API server's parts.
type APIServer struct {
	cfg     Config
	log     *slog.Logger
	Pool    *pgxpool.Pool
	Redis   *redis.Client
	Objects *objects.Store
	Keys    *auth.Keys
	River   *river.Client[pgx.Tx]
	Server  *server.Server
	// Judge is the Kubernetes side; nil without a cluster.
	Judge       *kube.Judge
	Submissions *submissions.Service
	store       *store.Store
}

// New connects to the dependencies and builds the server. Close releases
// what New opened.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*APIServer, error) {
	if cfg.SigningKey == nil {
		return nil, errors.New("no JWT signing key configured")
	}
	a := &APIServer{cfg: cfg, log: log}
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
	a.Pool, err = pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	ropts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("redis url: %w", err)
	}
	a.Redis = redis.NewClient(ropts)
	a.Objects, err = objects.Open(cfg.Objects)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Keys = auth.NewKeys(cfg.JWTIssuer, cfg.JWTAudience, cfg.SigningKey, cfg.VerifyKeys...)

	workers := river.NewWorkers()
	river.AddWorker(workers, mail.NewWorker(cfg.SMTP))
	dispatchWorker := &submissions.DispatchWorker{}
	river.AddWorker(workers, dispatchWorker)
	publishWorker := &problems.PublishWorker{}
	river.AddWorker(workers, publishWorker)
	rcfg := &river.Config{
		Logger:  log.With("component", "river"),
		Workers: workers,
		// Mail jobs carry single-use tokens: keep finished ones briefly.
		CompletedJobRetentionPeriod: time.Hour,
	}
	if cfg.MailWorkers > 0 {
		rcfg.Queues = map[string]river.QueueConfig{
			mail.Queue:                {MaxWorkers: cfg.MailWorkers},
			submissions.DispatchQueue: {MaxWorkers: 4},
		}
	}
	a.River, err = river.NewClient(riverpgxv5.New(a.Pool), rcfg)
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("river client: %w", err)
	}

	st := store.Open(a.Pool)
	a.store = st
	sessions := session.New(st.Queries, a.Redis, log.With("component", "session"))
	var publisher problems.Publisher
	var dispatcher submissions.Dispatcher
	if cfg.Kube != nil {
		a.Judge, err = kube.New(cfg.Kube, cfg.JudgeNamespace, cfg.Objects.Bucket, log.With("component", "kube"))
		if err != nil {
			a.Close()
			return nil, err
		}
		publisher, dispatcher = a.Judge, a.Judge
	}
	authSvc, err := auth.NewService(cfg.Auth, st, a.Keys, auth.Hasher{Params: cfg.Argon2},
		passwords.NewLimiter(cfg.PasswordHashes, cfg.PasswordHashWait), redis_rate.NewLimiter(a.Redis), a.River, sessions)
	if err != nil {
		a.Close()
		return nil, err
	}
	usersSvc := users.New(st, a.Objects, sessions)
	problemsSvc := problems.New(st, a.Objects, a.Redis, publisher, a.River, log)
	orgsSvc := orgs.New(st, problemsSvc)
	publishWorker.Service = problemsSvc
	board := submissions.NewLeaderboard(st, a.Redis, log)
	a.Submissions = submissions.New(cfg.Submissions, st, a.Redis, problemsSvc, dispatcher, a.River, board, a.Objects, log)
	dispatchWorker.Service = a.Submissions

	ready := map[string]server.Checker{
		"postgres": func(ctx context.Context) error { return a.Pool.Ping(ctx) },
		"redis":    func(ctx context.Context) error { return a.Redis.Ping(ctx).Err() },
	}
	a.Server = server.New(cfg.HTTP, log, a.Keys, sessions, policy.Default(), orgs.Memberships{Store: st}, ready,
		func(o ...connect.HandlerOption) server.Service {
			p, h := codequestv1connect.NewAuthServiceHandler(authSvc, o...)
			return server.Service{Name: codequestv1connect.AuthServiceName, Path: p, Handler: h}
		},
		func(o ...connect.HandlerOption) server.Service {
			p, h := codequestv1connect.NewUserServiceHandler(usersSvc, o...)
			return server.Service{Name: codequestv1connect.UserServiceName, Path: p, Handler: h}
		},
		func(o ...connect.HandlerOption) server.Service {
			p, h := codequestv1connect.NewOrganizationServiceHandler(orgsSvc, o...)
			return server.Service{Name: codequestv1connect.OrganizationServiceName, Path: p, Handler: h}
		},
		func(o ...connect.HandlerOption) server.Service {
			p, h := codequestv1connect.NewProblemServiceHandler(problemsSvc, o...)
			return server.Service{Name: codequestv1connect.ProblemServiceName, Path: p, Handler: h}
		},
		func(o ...connect.HandlerOption) server.Service {
			p, h := codequestv1connect.NewSubmissionServiceHandler(a.Submissions, o...)
			return server.Service{Name: codequestv1connect.SubmissionServiceName, Path: p, Handler: h}
		},
		func(o ...connect.HandlerOption) server.Service {
			p, h := codequestv1connect.NewLeaderboardServiceHandler(board, o...)
			return server.Service{Name: codequestv1connect.LeaderboardServiceName, Path: p, Handler: h}
		},
	)
	a.Submissions.Draining = a.Server.Draining()
	return a, nil
}

// Run works jobs and serves on ln until ctx is cancelled, then shuts down
// gracefully.
func (a *APIServer) Run(ctx context.Context, ln net.Listener) error {
	if a.cfg.MailWorkers > 0 {
		if err := a.River.Start(ctx); err != nil {
			return fmt.Errorf("start job worker: %w", err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := a.River.Stop(sctx); err != nil {
				a.log.Warn("stop job worker", "error", err)
			}
		}()
	}
	if addr := a.cfg.HTTP.MetricsAddr; addr != "" && addr != "0" {
		mln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listen for metrics on %s: %w", addr, err)
		}
		go func() {
			if err := a.Server.ServeMetrics(ctx, mln); err != nil {
				a.log.Error("metrics listener", "error", err)
			}
		}()
	}
	if a.Judge != nil {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			if err := a.Judge.Watch(wctx, a.Submissions, a.store); err != nil && wctx.Err() == nil {
				a.log.Error("watch judge resources", "error", err)
			}
		}()
	}
	return a.Server.Serve(ctx, ln)
}

// Close releases the connections New opened.
func (a *APIServer) Close() {
	if a.Submissions != nil {
		a.Submissions.Close()
	}
	if a.Redis != nil {
		_ = a.Redis.Close()
	}
	if a.Pool != nil {
		a.Pool.Close()
	}
}

// Listen opens the configured address.
func (a *APIServer) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", a.cfg.HTTP.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", a.cfg.HTTP.Addr, err)
	}
	return ln, nil
}

// LoadSigningKey reads a PKCS #8 Ed25519 key from path; when path does not
// exist and create is set, it generates one and writes it there (0600).
func LoadSigningKey(path string, create bool) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		return auth.ParsePrivateKeyPEM(data)
	}
	if !errors.Is(err, os.ErrNotExist) || !create {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	pemBytes, err := auth.MarshalPrivateKeyPEM(k)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		return nil, fmt.Errorf("write signing key: %w", err)
	}
	return k, nil
}
