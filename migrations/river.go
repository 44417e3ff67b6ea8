package migrations

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"
)

// riverVersion is the River schema version this release of CodeQuest uses.
// Pinning it keeps migration 3 the same however River evolves: a River
// upgrade that needs a newer schema adds a migration that moves this up.
const riverVersion = 8

// riverMigration installs River's job tables (durable jobs: mail, CR
// re-creation, ...) as migration 3. River applies each of its versions in a
// transaction of its own: version 6 adds an enum value and then uses it,
// which Postgres refuses inside a single transaction.
func riverMigration() *goose.Migration {
	run := func(direction rivermigrate.Direction, target int) func(context.Context, *sql.DB) error {
		return func(ctx context.Context, db *sql.DB) error {
			m, err := rivermigrate.New(riverdatabasesql.New(db), nil)
			if err != nil {
				return fmt.Errorf("river migrator: %w", err)
			}
			if _, err := m.Migrate(ctx, direction, &rivermigrate.MigrateOpts{TargetVersion: target}); err != nil {
				return fmt.Errorf("river migrate %s: %w", direction, err)
			}
			return nil
		}
	}
	return goose.NewGoMigration(3,
		&goose.GoFunc{RunDB: run(rivermigrate.DirectionUp, riverVersion)},
		&goose.GoFunc{RunDB: run(rivermigrate.DirectionDown, -1)},
	)
}
