// Package migrations holds the database schema: numbered up/down SQL files
// (goose format, each applied in its own transaction) embedded in the
// binary, plus River's job tables as a Go migration.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"

	"github.com/pressly/goose/v3"
)

//go:embed *.sql
var files embed.FS

// Migrator applies the schema to one database.
type Migrator struct {
	provider *goose.Provider
}

// Status is the state of one migration.
type Status struct {
	Version int64
	Source  string
	Applied bool
}

// New returns a Migrator for db, a database/sql handle on Postgres (for
// example from github.com/jackc/pgx/v5/stdlib).
func New(db *sql.DB) (*Migrator, error) {
	p, err := goose.NewProvider(goose.DialectPostgres, db, files,
		goose.WithGoMigrations(riverMigration()),
	)
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return &Migrator{provider: p}, nil
}

// Up applies every pending migration and returns the versions applied.
func (m *Migrator) Up(ctx context.Context) ([]int64, error) {
	res, err := m.provider.Up(ctx)
	return versions(res), err
}

// Down rolls back every applied migration, newest first.
func (m *Migrator) Down(ctx context.Context) ([]int64, error) {
	res, err := m.provider.DownTo(ctx, 0)
	return versions(res), err
}

// DownOne rolls back the newest applied migration.
func (m *Migrator) DownOne(ctx context.Context) ([]int64, error) {
	res, err := m.provider.Down(ctx)
	if res == nil {
		return nil, err
	}
	return versions([]*goose.MigrationResult{res}), err
}

// Status reports every known migration and whether it is applied.
func (m *Migrator) Status(ctx context.Context) ([]Status, error) {
	st, err := m.provider.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]Status, 0, len(st))
	for _, s := range st {
		src := s.Source.Path
		if src == "" {
			src = fmt.Sprintf("go migration %d", s.Source.Version)
		}
		out = append(out, Status{Version: s.Source.Version, Source: src, Applied: s.State == goose.StateApplied})
	}
	return out, nil
}

func versions(res []*goose.MigrationResult) []int64 {
	var v []int64
	for _, r := range res {
		if r.Error == nil {
			v = append(v, r.Source.Version)
		}
	}
	return v
}
