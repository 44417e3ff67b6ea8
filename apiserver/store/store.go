// Package store is the Postgres data layer: queries written as SQL in
// queries/ and generated with sqlc for pgx/v5, and the transaction helper.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store is the database: a pool and the generated queries on it.
type Store struct {
	*Queries
	Pool *pgxpool.Pool
}

// Open returns a Store on pool.
func Open(pool *pgxpool.Pool) *Store {
	return &Store{Queries: &Queries{db: pool}, Pool: pool}
}

// Postgres error codes the application handles.
const (
	codeUniqueViolation      = "23505"
	codeForeignKeyViolation  = "23503"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
)

// IsUniqueViolation reports whether err is a unique-constraint violation,
// optionally of the named constraint.
func IsUniqueViolation(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == codeUniqueViolation && (constraint == "" || pe.ConstraintName == constraint)
}

// IsForeignKeyViolation reports whether err is a foreign-key violation.
func IsForeignKeyViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == codeForeignKeyViolation
}

// IsNoRows reports whether err says a query returned no row.
func IsNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// InTx runs fn in a transaction: committed when fn returns nil, rolled back
// otherwise. Serialization failures and deadlocks are retried a few times
// with the whole of fn, so fn must be safe to run again.
func (s *Store) InTx(ctx context.Context, fn func(q *Queries, tx pgx.Tx) error) error {
	const attempts = 4
	var err error
	for i := range attempts {
		err = s.inTx(ctx, fn)
		var pe *pgconn.PgError
		if err == nil || !errors.As(err, &pe) || (pe.Code != codeSerializationFailure && pe.Code != codeDeadlockDetected) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(i+1) * 10 * time.Millisecond):
		}
	}
	return fmt.Errorf("transaction failed after %d attempts: %w", attempts, err)
}

func (s *Store) inTx(ctx context.Context, fn func(q *Queries, tx pgx.Tx) error) (err error) {
	tx, err := s.Pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(ctx)
		}
	}()
	if err := fn(s.Queries.WithTx(tx), tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
