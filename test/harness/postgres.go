package harness

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/codequest-dev/codequest/migrations"
	"github.com/codequest-dev/codequest/test/localsvc"
)

const pgTemplate = "codequest_template"

// postgresServer is the binary's PostgreSQL: a started server, or the one of
// TEST_DATABASE_URL.
type postgresServer struct {
	base     *url.URL      // the server; tests get copies with their database
	admin    *pgxpool.Pool // for CREATE and DROP DATABASE
	template string        // migrated database that tests' databases copy
	external bool
	srv      *localsvc.Postgres // nil if external
	dir      string
}

// Postgres returns a pool on a fresh database of t's own, migrated, dropped
// when t ends.
func Postgres(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return connectPostgres(t, PostgresURL(t))
}

// PostgresURL returns the URL of a fresh, migrated database of t's own,
// dropped when t ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	s, err := services.postgres.get("postgres", startPostgres)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return s.createDatabase(t, s.template)
}

// EmptyPostgresURL returns the URL of a fresh database of t's own with no
// schema at all, for testing migrations; it is dropped when t ends.
func EmptyPostgresURL(t testing.TB) string {
	t.Helper()
	s, err := services.postgres.get("postgres", startPostgres)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return s.createDatabase(t, "template0")
}

func connectPostgres(t testing.TB, dbURL string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatalf("harness: connect to the test database: %v", err)
	}
	t.Cleanup(pool.Close) // runs before the database is dropped
	return pool
}

// createDatabase copies template into a database named for t and registers
// its removal.
func (s *postgresServer) createDatabase(t testing.TB, template string) string {
	t.Helper()
	name := databaseName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	q := fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", pgx.Identifier{name}.Sanitize(), pgx.Identifier{template}.Sanitize())
	if _, err := s.admin.Exec(ctx, q); err != nil {
		t.Fatalf("harness: create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.dropDatabase(ctx, name); err != nil {
			t.Errorf("harness: %v", err)
		}
	})
	u := *s.base
	u.Path = "/" + name
	return u.String()
}

func (s *postgresServer) dropDatabase(ctx context.Context, name string) error {
	q := fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", pgx.Identifier{name}.Sanitize())
	if _, err := s.admin.Exec(ctx, q); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// databaseName makes a unique database name that shows which test it is for.
func databaseName(test string) string {
	var b strings.Builder
	b.WriteString("t_")
	for _, r := range strings.ToLower(test) {
		if b.Len() >= 40 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	b.WriteByte('_')
	b.WriteString(randomHex(6))
	return b.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}

// startPostgres starts the binary's PostgreSQL, or connects to
// TEST_DATABASE_URL, and makes the migrated template.
func startPostgres(ctx context.Context) (*postgresServer, error) {
	var s *postgresServer
	if raw := os.Getenv("TEST_DATABASE_URL"); raw != "" {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("parse TEST_DATABASE_URL: %w", err)
		}
		// Several binaries may share the server: each makes its own template.
		s = &postgresServer{base: u, template: pgTemplate + "_" + randomHex(4), external: true}
	} else {
		var err error
		if s, err = runPostgres(ctx); err != nil {
			return nil, err
		}
	}
	admin, err := pgxpool.New(ctx, s.base.String())
	if err != nil {
		_ = s.stop(ctx)
		return nil, fmt.Errorf("connect: %w", err)
	}
	s.admin = admin
	began := time.Now()
	if err := s.makeTemplate(ctx); err != nil {
		_ = s.stop(ctx)
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "harness: postgres template migrated in %v\n", time.Since(began).Round(time.Millisecond))
	return s, nil
}

// runPostgres initializes a cluster in a temporary folder and starts it on
// a free port, with speed before durability.
func runPostgres(ctx context.Context) (*postgresServer, error) {
	dir, err := tempDir("postgres")
	if err != nil {
		return nil, err
	}
	began := time.Now()
	srv, err := localsvc.StartPostgres(ctx, localsvc.Spec{Dir: dir})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	base, err := url.Parse(srv.URL("postgres"))
	if err != nil {
		_ = srv.Stop(ctx)
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("parse postgres URL: %w", err)
	}
	fmt.Fprintf(os.Stderr, "harness: postgres on %s (initdb %v, start %v)\n", base.Host,
		srv.InitTime.Round(time.Millisecond), (time.Since(began) - srv.InitTime).Round(time.Millisecond))
	return &postgresServer{base: base, template: pgTemplate, srv: srv, dir: dir}, nil
}

// makeTemplate creates the template database and migrates it. Connections
// to it are then refused, since CREATE DATABASE cannot copy a database that
// has any.
func (s *postgresServer) makeTemplate(ctx context.Context) error {
	name := pgx.Identifier{s.template}.Sanitize()
	if _, err := s.admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	u := *s.base
	u.Path = "/" + s.template
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return fmt.Errorf("parse template URL: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	err = migrate(ctx, db)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close template: %w", cerr)
	}
	if err != nil {
		return err
	}
	if _, err := s.admin.Exec(ctx, "ALTER DATABASE "+name+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		return fmt.Errorf("mark template: %w", err)
	}
	return nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	m, err := migrations.New(db)
	if err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	if _, err := m.Up(ctx); err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	return nil
}

// stop drops the template of an external server, or stops the started one
// and removes its folder.
func (s *postgresServer) stop(ctx context.Context) error {
	var errs []error
	if s.admin != nil {
		if s.external {
			name := pgx.Identifier{s.template}.Sanitize()
			if _, err := s.admin.Exec(ctx, "ALTER DATABASE "+name+" WITH IS_TEMPLATE false"); err != nil {
				errs = append(errs, fmt.Errorf("unmark template: %w", err))
			}
			errs = append(errs, s.dropDatabase(ctx, s.template))
		}
		s.admin.Close()
	}
	if s.srv != nil {
		errs = append(errs, s.srv.Stop(ctx))
	}
	if s.dir != "" {
		if err := os.RemoveAll(s.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove postgres folder: %w", err))
		}
	}
	return joinErrors("postgres", errs)
}
