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
// re-creation, ...) as migration 3, inside goose's transaction.
func riverMigration() *goose.Migration {
	run := func(direction rivermigrate.Direction, target int) func(context.Context, *sql.Tx) error {
		return func(ctx context.Context, tx *sql.Tx) error {
			m, err := rivermigrate.New(riverdatabasesql.New(nil), nil)
			if err != nil {
				return fmt.Errorf("river migrator: %w", err)
			}
			if _, err := m.MigrateTx(ctx, tx, direction, &rivermigrate.MigrateOpts{TargetVersion: target}); err != nil {
				return fmt.Errorf("river migrate %s: %w", direction, err)
			}
			return nil
		}
	}
	return goose.NewGoMigration(3,
		&goose.GoFunc{RunTx: run(rivermigrate.DirectionUp, riverVersion)},
		&goose.GoFunc{RunTx: run(rivermigrate.DirectionDown, -1)},
	)
}
