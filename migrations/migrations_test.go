package migrations_test

import (
	"context"
	"database/sql"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/codequest-dev/codequest/migrations"
	"github.com/codequest-dev/codequest/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// TestUpDownUp runs every up migration on an empty database, then every
// down, then every up again, checking the schema and the status each time.
func TestUpDownUp(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, err := sql.Open("pgx", harness.EmptyPostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	m, err := migrations.New(db)
	if err != nil {
		t.Fatal(err)
	}
	all := knownVersions(ctx, t, m)
	if len(all) == 0 {
		t.Fatal("no migrations")
	}

	up := func(round string) {
		t.Helper()
		got, err := m.Up(ctx)
		if err != nil {
			t.Fatalf("%s up: %v", round, err)
		}
		if diff := cmp.Diff(all, got); diff != "" {
			t.Errorf("%s up applied (-want +got):\n%s", round, diff)
		}
		assertAllApplied(ctx, t, m, true)
		tables := publicTables(ctx, t, db)
		for _, want := range []string{"users", "credentials", "refresh_tokens", "email_tokens", "organizations", "memberships"} {
			if !slices.Contains(tables, want) {
				t.Errorf("%s up: no table %s; tables: %q", round, want, tables)
			}
		}
	}

	up("first")

	got, err := m.Down(ctx)
	if err != nil {
		t.Fatalf("down: %v", err)
	}
	reversed := slices.Clone(all)
	slices.Reverse(reversed)
	if diff := cmp.Diff(reversed, got); diff != "" {
		t.Errorf("down rolled back (-want +got):\n%s", diff)
	}
	assertAllApplied(ctx, t, m, false)
	if diff := cmp.Diff([]string{"goose_db_version"}, publicTables(ctx, t, db)); diff != "" {
		t.Errorf("tables after down (-want +got):\n%s", diff)
	}
	var types []string
	rows, err := db.QueryContext(ctx, `SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
		WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'c') AND t.typrelid = 0 ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		types = append(types, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(types) != 0 {
		t.Errorf("types left after down: %q", types)
	}

	up("second")
}

func knownVersions(ctx context.Context, t *testing.T, m *migrations.Migrator) []int64 {
	t.Helper()
	st, err := m.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var v []int64
	for _, s := range st {
		v = append(v, s.Version)
	}
	return v
}

func assertAllApplied(ctx context.Context, t *testing.T, m *migrations.Migrator, want bool) {
	t.Helper()
	st, err := m.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.Applied != want {
			t.Errorf("migration %d (%s) applied = %v, want %v", s.Version, s.Source, s.Applied, want)
		}
	}
}

// publicTables lists the tables of the public schema, sorted.
func publicTables(ctx context.Context, t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(ctx, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}
