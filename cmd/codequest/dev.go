package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/codequest-dev/codequest/apiserver"
	"github.com/codequest-dev/codequest/apiserver/auth"
	"github.com/codequest-dev/codequest/apiserver/store"
	"github.com/codequest-dev/codequest/migrations"
	"github.com/codequest-dev/codequest/test/localsvc"
)

// devOptions are the flags of `codequest dev` that apiserver.Config does not
// hold.
type devOptions struct {
	dataDir                     string
	password                    string
	keyFile                     string
	postgresPort, redisPort     int
	minioPort, minioConsolePort int
	mailSMTPPort, mailHTTPPort  int
	logFormat, logLevel         string
	// judge is "local" (control plane + controllers judging here) or "off".
	judge, kubeconfig, samples string
}

// devAccounts are the accounts dev makes, by role.
var devAccounts = []struct{ email, name, role string }{
	{"admin@codequest.dev", "Admin", auth.RoleAdmin},
	{"instructor@codequest.dev", "Instructor", auth.RoleInstructor},
	{"learner@codequest.dev", "Learner", auth.RoleLearner},
}

// devDatabase is the database dev makes on the Postgres it starts.
const devDatabase = "codequest"

// dev runs the platform on this machine: the services it depends on as
// local processes with their data in one folder, the schema, the seed
// accounts and the API server, until ctx ends.
func dev(ctx context.Context, args []string) (err error) {
	serving := false
	cfg := apiserver.DefaultConfig()
	cfg.DatabaseURL, cfg.RedisURL, cfg.Objects.Endpoint, cfg.SMTP.Host = "", "", "", ""
	cfg.Objects.AccessKey, cfg.Objects.SecretKey = "codequest", "codequest-dev-secret"
	cfg.Auth.PublicURL = ""
	o := devOptions{
		dataDir: ".dev", password: "CodeQuest-dev1",
		postgresPort: 15432, redisPort: 16379, minioPort: 19000, minioConsolePort: 19001,
		mailSMTPPort: 11025, mailHTTPPort: 18025,
		logFormat: "text", logLevel: "info", judge: "local",
	}
	var smtpStartTLS bool
	fs := env{flag.NewFlagSet("dev", flag.ContinueOnError)}
	fs.str(&cfg.HTTP.Addr, "addr", "CODEQUEST_ADDR", "API listen address")
	fs.str(&cfg.Auth.PublicURL, "public-url", "CODEQUEST_PUBLIC_URL", "base URL of links in mail (default http://ADDR)")
	fs.str(&o.dataDir, "data-dir", "CODEQUEST_DEV_DIR", "folder of all local data, relative to the repository")
	fs.str(&o.password, "password", "CODEQUEST_DEV_PASSWORD", "password of the seed accounts when they are made")
	fs.str(&o.keyFile, "jwt-key-file", "CODEQUEST_JWT_KEY_FILE", "Ed25519 PEM key that signs access tokens, made if missing (default DATA-DIR/jwt.pem)")
	fs.str(&cfg.DatabaseURL, "database-url", "CODEQUEST_DATABASE_URL", "use this Postgres instead of starting one")
	fs.integer(&o.postgresPort, "postgres-port", "CODEQUEST_DEV_POSTGRES_PORT", "port of the started Postgres")
	fs.str(&cfg.RedisURL, "redis-url", "CODEQUEST_REDIS_URL", "use this Redis instead of starting one")
	fs.integer(&o.redisPort, "redis-port", "CODEQUEST_DEV_REDIS_PORT", "port of the started Redis")
	fs.str(&cfg.Objects.Endpoint, "s3-endpoint", "CODEQUEST_S3_ENDPOINT", "use this object storage (host:port) instead of starting MinIO")
	fs.str(&cfg.Objects.AccessKey, "s3-access-key", "CODEQUEST_S3_ACCESS_KEY", "object storage access key")
	fs.str(&cfg.Objects.SecretKey, "s3-secret-key", "CODEQUEST_S3_SECRET_KEY", "object storage secret key")
	fs.str(&cfg.Objects.Bucket, "s3-bucket", "CODEQUEST_S3_BUCKET", "object storage bucket")
	fs.str(&cfg.Objects.Region, "s3-region", "CODEQUEST_S3_REGION", "object storage region")
	fs.boolean(&cfg.Objects.UseTLS, "s3-tls", "CODEQUEST_S3_TLS", "use https for object storage")
	fs.integer(&o.minioPort, "minio-port", "CODEQUEST_DEV_MINIO_PORT", "S3 port of the started MinIO")
	fs.integer(&o.minioConsolePort, "minio-console-port", "CODEQUEST_DEV_MINIO_CONSOLE_PORT", "web console port of the started MinIO")
	fs.str(&cfg.SMTP.Host, "smtp-host", "CODEQUEST_SMTP_HOST", "use this SMTP server instead of starting mailpit")
	fs.integer(&cfg.SMTP.Port, "smtp-port", "CODEQUEST_SMTP_PORT", "port of --smtp-host")
	fs.str(&cfg.SMTP.Username, "smtp-username", "CODEQUEST_SMTP_USERNAME", "SMTP user (empty: no auth)")
	fs.str(&cfg.SMTP.Password, "smtp-password", "CODEQUEST_SMTP_PASSWORD", "SMTP password")
	fs.boolean(&smtpStartTLS, "smtp-starttls", "CODEQUEST_SMTP_STARTTLS", "require STARTTLS")
	fs.str(&cfg.SMTP.From, "mail-from", "CODEQUEST_MAIL_FROM", "From address of mail")
	fs.integer(&o.mailSMTPPort, "mailpit-smtp-port", "CODEQUEST_DEV_MAILPIT_SMTP_PORT", "SMTP port of the started mailpit")
	fs.integer(&o.mailHTTPPort, "mailpit-http-port", "CODEQUEST_DEV_MAILPIT_HTTP_PORT", "web UI and API port of the started mailpit")
	fs.str(&o.judge, "judge", "CODEQUEST_DEV_JUDGE", "local: run a control plane and the controllers judging on this machine; off: no judging")
	fs.str(&o.kubeconfig, "kubeconfig", "CODEQUEST_DEV_KUBECONFIG", "judge through this cluster's API instead of starting a control plane")
	fs.str(&cfg.JudgeNamespace, "judge-namespace", "CODEQUEST_JUDGE_NAMESPACE", "namespace of the Problem and Submission resources")
	fs.str(&o.samples, "samples", "CODEQUEST_DEV_SAMPLES", "folder of problem packages to import once (default: ../shared/corpus beside the repository, if present; none: no samples)")
	fs.str(&o.logFormat, "log-format", "CODEQUEST_LOG_FORMAT", "json or text")
	fs.str(&o.logLevel, "log-level", "CODEQUEST_LOG_LEVEL", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("dev takes no arguments, got %q", fs.Args())
	}
	log := newLogger(o.logFormat, o.logLevel)
	slog.SetDefault(log)
	cfg.SMTP.StartTLS = smtpStartTLS
	if cfg.Auth.PublicURL == "" {
		cfg.Auth.PublicURL = "http://" + cfg.HTTP.Addr
	}
	if p := auth.PasswordProblem(o.password, ""); p != "" {
		return fmt.Errorf("seed password (CODEQUEST_DEV_PASSWORD) %s", p)
	}

	began := time.Now()
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	// The repository holds hack/tools.sh, which builds minio, mailpit and
	// the clients the examples use.
	root, rootErr := localsvc.FindRoot(wd)
	if !filepath.IsAbs(o.dataDir) {
		base := root
		if rootErr != nil {
			base = wd
		}
		o.dataDir = filepath.Join(base, o.dataDir)
	}
	if err := os.MkdirAll(o.dataDir, 0o755); err != nil {
		return fmt.Errorf("make the data folder: %w", err)
	}
	if o.keyFile == "" {
		o.keyFile = filepath.Join(o.dataDir, "jwt.pem")
	}
	if cfg.SigningKey, err = apiserver.LoadSigningKey(o.keyFile, true); err != nil {
		return err
	}
	tools := func(ctx context.Context, name string) (string, error) {
		if rootErr != nil {
			return "", fmt.Errorf("%s is needed: %w", name, rootErr)
		}
		return localsvc.Tools{Root: root}.Path(ctx, name)
	}

	var svcs services
	defer func() {
		// Stopping must work after ctx ended: that is why we stop.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if n, serr := svcs.stop(sctx); serr != nil {
			err = errors.Join(err, serr)
		} else if n > 0 {
			log.Info("stopped the local services", "count", n)
		}
		if err != nil && !serving && ctx.Err() != nil {
			log.Info("interrupted while starting", "error", err)
			err = nil
		}
	}()
	var urls devURLs
	g, gctx := errgroup.WithContext(ctx)
	if cfg.DatabaseURL == "" {
		g.Go(func() error {
			pg, err := localsvc.StartPostgres(gctx, localsvc.Spec{
				Dir: filepath.Join(o.dataDir, "postgres"), Port: o.postgresPort, Persist: true})
			if err != nil {
				return err
			}
			svcs.add(pg.Stop)
			if pg.Initialized {
				log.Info("initialized postgres", "took", pg.InitTime.Round(time.Millisecond))
			}
			if err := createDatabase(gctx, pg.URL("postgres"), devDatabase); err != nil {
				return err
			}
			cfg.DatabaseURL = pg.URL(devDatabase)
			return nil
		})
	}
	if cfg.RedisURL == "" {
		g.Go(func() error {
			r, err := localsvc.StartRedis(gctx, localsvc.RedisSpec{Spec: localsvc.Spec{
				Dir: filepath.Join(o.dataDir, "redis"), Port: o.redisPort, Persist: true}})
			if err != nil {
				return err
			}
			svcs.add(r.Stop)
			cfg.RedisURL = r.URL(0)
			return nil
		})
	}
	if cfg.Objects.Endpoint == "" {
		g.Go(func() error {
			bin, err := tools(gctx, "minio")
			if err != nil {
				return err
			}
			m, err := localsvc.StartMinIO(gctx, localsvc.MinIOSpec{
				Spec:   localsvc.Spec{Dir: filepath.Join(o.dataDir, "minio"), Port: o.minioPort, Persist: true},
				Binary: bin, AccessKey: cfg.Objects.AccessKey, SecretKey: cfg.Objects.SecretKey,
				Console: true, ConsolePort: o.minioConsolePort,
			})
			if err != nil {
				return err
			}
			svcs.add(m.Stop)
			cfg.Objects.Endpoint, cfg.Objects.UseTLS, urls.minioConsole = m.Endpoint, false, m.ConsoleURL
			return nil
		})
	}
	if cfg.SMTP.Host == "" {
		g.Go(func() error {
			bin, err := tools(gctx, "mailpit")
			if err != nil {
				return err
			}
			m, err := localsvc.StartMailpit(gctx, localsvc.MailpitSpec{
				Spec:   localsvc.Spec{Dir: filepath.Join(o.dataDir, "mailpit"), Port: o.mailSMTPPort, Persist: true},
				Binary: bin, HTTPPort: o.mailHTTPPort,
			})
			if err != nil {
				return err
			}
			svcs.add(m.Stop)
			host, port, err := net.SplitHostPort(m.SMTPAddr)
			if err != nil {
				return err
			}
			cfg.SMTP.Host, cfg.SMTP.Username, cfg.SMTP.Password, cfg.SMTP.StartTLS = host, "", "", false
			cfg.SMTP.Port, err = strconv.Atoi(port)
			urls.mailpit = m.URL
			return err
		})
	}
	g.Go(func() error {
		// The examples name the clients by path; a missing one is built.
		for _, name := range []string{"grpcurl", "buf"} {
			p, err := tools(gctx, name)
			if err != nil {
				log.Warn("no path for the examples", "tool", name, "error", err)
				p = "$(hack/tools.sh path " + name + ")"
			}
			urls.tools = append(urls.tools, p)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return fmt.Errorf("start the local services: %w", err)
	}
	log.Info("local services ready", "data", o.dataDir, "took", time.Since(began).Round(time.Millisecond))

	if err := migrateUp(ctx, cfg.DatabaseURL); err != nil {
		return err
	}
	switch o.judge {
	case "local":
		dj, err := startJudging(ctx, log, root, o.dataDir, o.kubeconfig, cfg.JudgeNamespace, cfg.Objects)
		if err != nil {
			return err
		}
		svcs.add(func(context.Context) error { return dj.stop() })
		cfg.Kube, urls.kubeconfig = dj.config, dj.kubeconfig
	case "off":
	default:
		return fmt.Errorf("--judge must be local or off, not %q", o.judge)
	}
	a, err := apiserver.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	created, err := seedAccounts(ctx, store.Open(a.Pool), o.password)
	if err != nil {
		return err
	}
	if err := a.Objects.EnsureBucket(ctx); err != nil {
		return err
	}
	ln, err := a.Listen()
	if err != nil {
		return err
	}
	printBanner(os.Stdout, cfg, o, urls, created, time.Since(began))
	serving = true
	if samples := samplesDir(o.samples, root); samples != "" && cfg.Kube != nil {
		go func() {
			imported, err := seedProblems(ctx, log, "http://"+ln.Addr().String(), "instructor@codequest.dev", o.password, samples)
			if err != nil {
				log.Warn("sample problems not imported", "error", err)
				return
			}
			if len(imported) > 0 {
				log.Info("imported sample problems; their labelled submissions are being verified", "problems", imported, "from", samples)
			}
		}()
	}
	return a.Run(ctx, ln)
}

// services stops the local services that were started, all at once, and
// says how many.
type services struct {
	mu    sync.Mutex
	stops []func(context.Context) error
}

func (s *services) add(stop func(context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stops = append(s.stops, stop)
}

func (s *services) stop(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	errs := make([]error, len(s.stops))
	var wg sync.WaitGroup
	for i, stop := range s.stops {
		wg.Go(func() { errs[i] = stop(ctx) })
	}
	wg.Wait()
	n := len(s.stops)
	s.stops = nil
	return n, errors.Join(errs...)
}

// createDatabase makes the database name on the server of adminURL unless
// it exists.
func createDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// migrateUp applies the migrations that are not applied yet.
func migrateUp(ctx context.Context, dbURL string) error {
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	m, err := migrations.New(db)
	if err != nil {
		return err
	}
	if _, err := m.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// seedAccounts makes the dev accounts that do not exist, verified, with
// password, and returns the emails it made. Existing accounts are left as
// they are.
func seedAccounts(ctx context.Context, st *store.Store, password string) ([]string, error) {
	var created []string
	for _, acct := range devAccounts {
		made, err := ensureAccount(ctx, st, acct.email, acct.name, acct.role, password)
		if err != nil {
			return nil, err
		}
		if made {
			created = append(created, acct.email)
		}
	}
	return created, nil
}

// devURLs are what the started services offer people.
type devURLs struct {
	mailpit, minioConsole string
	kubeconfig            string
	tools                 []string // grpcurl, buf
}

// printBanner tells what runs where, the accounts and how to call the API.
func printBanner(w io.Writer, cfg apiserver.Config, o devOptions, urls devURLs, created []string, took time.Duration) {
	api := "http://" + cfg.HTTP.Addr
	fmt.Fprintf(w, "\nCodeQuest is running (ready in %v). Ctrl-C stops it.\n\n", took.Round(100*time.Millisecond))
	fmt.Fprintf(w, "  API       %s  (Connect, gRPC, gRPC-web; /healthz /readyz /metrics)\n", api)
	if urls.mailpit != "" {
		fmt.Fprintf(w, "  mail      %s  (mailpit web UI: registration and reset mail)\n", urls.mailpit)
	}
	if urls.minioConsole != "" {
		fmt.Fprintf(w, "  MinIO     http://%s  (console %s, user %s)\n", cfg.Objects.Endpoint, urls.minioConsole, cfg.Objects.AccessKey)
	}
	fmt.Fprintf(w, "  Postgres  %s\n", cfg.DatabaseURL)
	fmt.Fprintf(w, "  Redis     %s\n", cfg.RedisURL)
	fmt.Fprintf(w, "  data      %s\n", o.dataDir)
	if urls.kubeconfig != "" {
		fmt.Fprintf(w, "  judging   on this machine; kubectl --kubeconfig %s -n %s get problems,submissions\n", urls.kubeconfig, cfg.JudgeNamespace)
	}
	fmt.Fprintln(w)

	fmt.Fprintf(w, "Accounts (verified; password %s, unless made earlier with another):\n", o.password)
	for _, a := range devAccounts {
		fmt.Fprintf(w, "  %-26s %s\n", a.email, a.role)
	}
	if len(created) > 0 {
		fmt.Fprintf(w, "  (made now: %s)\n", strings.Join(created, ", "))
	}

	login := fmt.Sprintf(`{"email":"learner@codequest.dev","password":%q}`, o.password)
	grpcurl, buf := urls.tools[0], urls.tools[1]
	host := cfg.HTTP.Addr
	fmt.Fprintf(w, "\nTry:\n")
	fmt.Fprintf(w, "  TOKEN=$(curl -sS -H 'Content-Type: application/json' -d '%s' \\\n    %s/codequest.v1.AuthService/Login | sed -E 's/.*\"accessToken\":\"([^\"]+)\".*/\\1/')\n", login, api)
	fmt.Fprintf(w, "  curl -sS -H 'Content-Type: application/json' -H \"Authorization: Bearer $TOKEN\" -d '{}' \\\n    %s/codequest.v1.UserService/GetMe\n", api)
	fmt.Fprintf(w, "  %s -plaintext %s list\n", grpcurl, host)
	fmt.Fprintf(w, "  %s -plaintext -d '%s' \\\n    %s codequest.v1.AuthService/Login\n", grpcurl, login, host)
	fmt.Fprintf(w, "  %s curl --protocol grpc --http2-prior-knowledge -d '%s' \\\n    %s/codequest.v1.AuthService/Login\n", buf, login, api)
	fmt.Fprintln(w)
}

// samplesDir is the folder of sample problem packages: flag, else the
// shared corpus beside the repository when it exists; "" for none.
func samplesDir(flag, root string) string {
	switch flag {
	case "none":
		return ""
	case "":
		if root == "" {
			return ""
		}
		d := filepath.Join(filepath.Dir(root), "shared", "corpus")
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
		return ""
	}
	return flag
}
