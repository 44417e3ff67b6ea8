// Command codequest is the CodeQuest platform: `serve` runs the API server,
// `migrate` manages the database schema, `dev` runs everything on one
// machine. Every flag can also be set by the environment variable named in
// its help (flags win).
package main

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // timezone validation must not depend on the host

	"github.com/go-redis/redis_rate/v10"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/codequest-dev/codequest/apiserver"
	"github.com/codequest-dev/codequest/apiserver/auth"
	"github.com/codequest-dev/codequest/apiserver/clientip"
	"github.com/codequest-dev/codequest/apiserver/server"
	"github.com/codequest-dev/codequest/migrations"
)

const usage = `codequest: the CodeQuest platform

usage:
  codequest serve [flags]           run the API server
  codequest migrate up|down|status  manage the database schema
  codequest controller [flags]      run the Problem and Submission controllers
  codequest dev [flags]             run the platform on this machine (data in .dev/)
  codequest admin --email E <pw     make an administrator (or give an account a role)
  codequest help [command]          show a command's flags
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "serve":
		err = serve(ctx, args)
	case "migrate":
		err = migrate(ctx, args)
	case "controller":
		err = controller(ctx, args)
	case "dev":
		err = dev(ctx, args)
	case "admin":
		err = admin(ctx, args)
	case "help", "-h", "--help":
		if len(args) > 0 {
			err = run(ctx, args[0], []string{"-h"})
		} else {
			fmt.Print(usage)
		}
	default:
		fmt.Fprintf(os.Stderr, "codequest: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		slog.Error("codequest failed", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cmd string, args []string) error {
	switch cmd {
	case "serve":
		return serve(ctx, args)
	case "migrate":
		return migrate(ctx, args)
	case "controller":
		return controller(ctx, args)
	case "dev":
		return dev(ctx, args)
	case "admin":
		return admin(ctx, args)
	}
	return fmt.Errorf("unknown command %q", cmd)
}

// env is a flag.FlagSet whose defaults come from environment variables.
type env struct{ *flag.FlagSet }

func (e env) str(p *string, name, envName, help string) {
	if v, ok := os.LookupEnv(envName); ok {
		*p = v
	}
	e.StringVar(p, name, *p, help+" ($"+envName+")")
}

func (e env) integer(p *int, name, envName, help string) {
	if v, ok := os.LookupEnv(envName); ok {
		if n, err := strconv.Atoi(v); err == nil {
			*p = n
		}
	}
	e.IntVar(p, name, *p, help+" ($"+envName+")")
}

func (e env) duration(p *time.Duration, name, envName, help string) {
	if v, ok := os.LookupEnv(envName); ok {
		if d, err := time.ParseDuration(v); err == nil {
			*p = d
		}
	}
	e.DurationVar(p, name, *p, help+" ($"+envName+")")
}

func (e env) boolean(p *bool, name, envName, help string) {
	if v, ok := os.LookupEnv(envName); ok {
		if b, err := strconv.ParseBool(v); err == nil {
			*p = b
		}
	}
	e.BoolVar(p, name, *p, help+" ($"+envName+")")
}

func newLogger(format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler = slog.NewJSONHandler(os.Stderr, opts)
	if format == "text" {
		h = slog.NewTextHandler(os.Stderr, opts)
	}
	return slog.New(server.LogHandler{Handler: h})
}

func serve(ctx context.Context, args []string) error {
	cfg := apiserver.DefaultConfig()
	fs := env{flag.NewFlagSet("serve", flag.ContinueOnError)}
	var (
		cors, keyFile, verifyFiles string
		logFormat, logLevel        = "json", "info"
		smtpStartTLS               bool
		generateKey                bool
		loginPerIP, loginPerAcct   = 30, 10
		loginFailuresAccount       = 100
		registerPerIP, registerPer = 20, 3
		registerAll                = 60
		trustedProxies             string
		maxBytes                   = int(cfg.HTTP.MaxRequestBytes)
	)
	fs.str(&cfg.HTTP.Addr, "addr", "CODEQUEST_ADDR", "listen address")
	fs.str(&cfg.HTTP.MetricsAddr, "metrics-addr", "CODEQUEST_METRICS_ADDR", "listen address of /metrics, apart from the API (empty or 0: none)")
	fs.str(&cors, "cors-origins", "CODEQUEST_CORS_ORIGINS", "comma-separated browser origins allowed by CORS (empty: none)")
	fs.str(&trustedProxies, "trusted-proxies", "CODEQUEST_TRUSTED_PROXIES", "comma-separated addresses or CIDRs of proxies whose X-Forwarded-For names the client")
	fs.integer(&maxBytes, "max-request-bytes", "CODEQUEST_MAX_REQUEST_BYTES", "largest request message")
	fs.duration(&cfg.HTTP.ReadTimeout, "read-timeout", "CODEQUEST_READ_TIMEOUT", "HTTP read timeout")
	fs.duration(&cfg.HTTP.WriteTimeout, "write-timeout", "CODEQUEST_WRITE_TIMEOUT", "HTTP write timeout (0: none; streams need long ones)")
	fs.duration(&cfg.HTTP.IdleTimeout, "idle-timeout", "CODEQUEST_IDLE_TIMEOUT", "HTTP keep-alive idle timeout")
	fs.duration(&cfg.HTTP.ShutdownTimeout, "shutdown-timeout", "CODEQUEST_SHUTDOWN_TIMEOUT", "how long shutdown waits for in-flight calls")
	fs.str(&cfg.DatabaseURL, "database-url", "CODEQUEST_DATABASE_URL", "Postgres URL")
	fs.str(&cfg.RedisURL, "redis-url", "CODEQUEST_REDIS_URL", "Redis URL")
	fs.str(&cfg.Objects.Endpoint, "s3-endpoint", "CODEQUEST_S3_ENDPOINT", "object storage host:port")
	fs.str(&cfg.Objects.AccessKey, "s3-access-key", "CODEQUEST_S3_ACCESS_KEY", "object storage access key")
	fs.str(&cfg.Objects.SecretKey, "s3-secret-key", "CODEQUEST_S3_SECRET_KEY", "object storage secret key")
	fs.str(&cfg.Objects.Bucket, "s3-bucket", "CODEQUEST_S3_BUCKET", "object storage bucket")
	fs.str(&cfg.Objects.Region, "s3-region", "CODEQUEST_S3_REGION", "object storage region")
	fs.boolean(&cfg.Objects.UseTLS, "s3-tls", "CODEQUEST_S3_TLS", "use https for object storage")
	fs.str(&cfg.SMTP.Host, "smtp-host", "CODEQUEST_SMTP_HOST", "SMTP server host")
	fs.integer(&cfg.SMTP.Port, "smtp-port", "CODEQUEST_SMTP_PORT", "SMTP server port")
	fs.str(&cfg.SMTP.Username, "smtp-username", "CODEQUEST_SMTP_USERNAME", "SMTP user (empty: no auth)")
	fs.str(&cfg.SMTP.Password, "smtp-password", "CODEQUEST_SMTP_PASSWORD", "SMTP password")
	fs.boolean(&smtpStartTLS, "smtp-starttls", "CODEQUEST_SMTP_STARTTLS", "require STARTTLS")
	fs.str(&cfg.SMTP.From, "mail-from", "CODEQUEST_MAIL_FROM", "From address of mail")
	fs.integer(&cfg.MailWorkers, "mail-workers", "CODEQUEST_MAIL_WORKERS", "mail jobs worked at once (0: none in this process)")
	fs.str(&cfg.Auth.PublicURL, "public-url", "CODEQUEST_PUBLIC_URL", "base URL of links in mail")
	fs.str(&keyFile, "jwt-key-file", "CODEQUEST_JWT_KEY_FILE", "Ed25519 PKCS #8 PEM key that signs access tokens")
	fs.boolean(&generateKey, "jwt-generate-key", "CODEQUEST_JWT_GENERATE_KEY", "create --jwt-key-file if it does not exist")
	fs.str(&verifyFiles, "jwt-verify-key-files", "CODEQUEST_JWT_VERIFY_KEY_FILES", "comma-separated PEM keys of retired signers still accepted")
	fs.str(&cfg.JWTIssuer, "jwt-issuer", "CODEQUEST_JWT_ISSUER", "access token issuer")
	fs.str(&cfg.JWTAudience, "jwt-audience", "CODEQUEST_JWT_AUDIENCE", "access token audience")
	fs.integer(&loginPerIP, "login-rate-ip", "CODEQUEST_LOGIN_RATE_IP", "Login attempts per client address per minute")
	fs.integer(&loginPerAcct, "login-rate-account", "CODEQUEST_LOGIN_RATE_ACCOUNT", "failed Logins per account from one client address per 15 minutes")
	fs.integer(&loginFailuresAccount, "login-failures-account", "CODEQUEST_LOGIN_FAILURES_ACCOUNT", "failed Logins per account from all addresses per hour (a password reset clears it)")
	fs.integer(&registerPerIP, "register-rate-ip", "CODEQUEST_REGISTER_RATE_IP", "registrations per client address per hour")
	fs.integer(&registerPer, "register-rate-address", "CODEQUEST_REGISTER_RATE_ADDRESS", "registrations of one email address per hour")
	fs.integer(&registerAll, "register-rate-global", "CODEQUEST_REGISTER_RATE_GLOBAL", "registrations from all clients together per minute")
	fs.integer(&cfg.HTTP.AuthConcurrency, "auth-concurrency", "CODEQUEST_AUTH_CONCURRENCY", "anonymous sign-in calls (Register, Login, ResetPassword, ...) running at once (default: half the CPUs)")
	fs.integer(&cfg.PasswordHashes, "password-hash-concurrency", "CODEQUEST_PASSWORD_HASH_CONCURRENCY", "password hashes computed at once (default: half the CPUs)")
	fs.integer(&cfg.Submissions.WatchesPerUser, "watches-per-user", "CODEQUEST_WATCHES_PER_USER", "WatchSubmission streams open at once per user")
	judging, kubeconfig := "kubernetes", ""
	fs.str(&judging, "judging", "CODEQUEST_JUDGING", "kubernetes: judge through the Kubernetes API (in-cluster, or --kubeconfig); off: Submit and Run are refused")
	fs.str(&kubeconfig, "kubeconfig", "KUBECONFIG", "kubeconfig file (empty: in-cluster config)")
	fs.str(&cfg.JudgeNamespace, "judge-namespace", "CODEQUEST_JUDGE_NAMESPACE", "namespace of the Problem and Submission resources")
	fs.str(&logFormat, "log-format", "CODEQUEST_LOG_FORMAT", "json or text")
	fs.str(&logLevel, "log-level", "CODEQUEST_LOG_LEVEL", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := newLogger(logFormat, logLevel)
	slog.SetDefault(log)
	switch judging {
	case "kubernetes":
		kc, err := kubeConfig(kubeconfig)
		if err != nil {
			return fmt.Errorf("kubernetes API (--kubeconfig, or run in a cluster; --judging=off to serve without judging): %w", err)
		}
		cfg.Kube = kc
	case "off":
	default:
		return fmt.Errorf("--judging must be kubernetes or off, not %q", judging)
	}
	cfg.HTTP.MaxRequestBytes = int64(maxBytes)
	cfg.SMTP.StartTLS = smtpStartTLS
	cfg.Auth.LoginPerIP = redis_rate.PerMinute(loginPerIP)
	cfg.Auth.LoginFailuresPerClient = redis_rate.Limit{Rate: loginPerAcct, Burst: loginPerAcct, Period: 15 * time.Minute}
	cfg.Auth.LoginFailuresPerAccount = redis_rate.Limit{Rate: loginFailuresAccount, Burst: loginFailuresAccount, Period: time.Hour}
	cfg.Auth.RegisterPerIP = redis_rate.Limit{Rate: registerPerIP, Burst: registerPerIP, Period: time.Hour}
	cfg.Auth.RegisterPerAddress = redis_rate.Limit{Rate: registerPer, Burst: registerPer, Period: time.Hour}
	cfg.Auth.RegisterGlobal = redis_rate.PerMinute(registerAll)
	proxies, err := clientip.ParsePrefixes(trustedProxies)
	if err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	cfg.HTTP.TrustedProxies = proxies
	for _, o := range strings.Split(cors, ",") {
		if o = strings.TrimSpace(o); o != "" {
			cfg.HTTP.CORSOrigins = append(cfg.HTTP.CORSOrigins, o)
		}
	}
	if keyFile == "" {
		return errors.New("--jwt-key-file is required")
	}
	key, err := apiserver.LoadSigningKey(keyFile, generateKey)
	if err != nil {
		return err
	}
	cfg.SigningKey = key
	for _, f := range strings.Split(verifyFiles, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("verify key: %w", err)
		}
		pub, err := auth.ParsePublicKeyPEM(data)
		if err != nil {
			return fmt.Errorf("verify key %s: %w", f, err)
		}
		cfg.VerifyKeys = append(cfg.VerifyKeys, ed25519.PublicKey(pub))
	}

	a, err := apiserver.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.Objects.EnsureBucket(ctx); err != nil {
		return err
	}
	ln, err := a.Listen()
	if err != nil {
		return err
	}
	return a.Run(ctx, ln)
}

func migrate(ctx context.Context, args []string) error {
	dbURL := "postgres://codequest@127.0.0.1:5432/codequest"
	fs := env{flag.NewFlagSet("migrate", flag.ContinueOnError)}
	fs.str(&dbURL, "database-url", "CODEQUEST_DATABASE_URL", "Postgres URL")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: codequest migrate [flags] up|down|down-one|status")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("migrate needs one of up, down, down-one, status")
	}
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	m, err := migrations.New(db)
	if err != nil {
		return err
	}
	switch fs.Arg(0) {
	case "up":
		v, err := m.Up(ctx)
		fmt.Printf("applied %v\n", v)
		return err
	case "down":
		v, err := m.Down(ctx)
		fmt.Printf("rolled back %v\n", v)
		return err
	case "down-one":
		v, err := m.DownOne(ctx)
		fmt.Printf("rolled back %v\n", v)
		return err
	case "status":
		st, err := m.Status(ctx)
		if err != nil {
			return err
		}
		for _, s := range st {
			state := "pending"
			if s.Applied {
				state = "applied"
			}
			fmt.Printf("%5d  %-8s %s\n", s.Version, state, s.Source)
		}
		return nil
	}
	return fmt.Errorf("unknown migrate command %q", fs.Arg(0))
}
