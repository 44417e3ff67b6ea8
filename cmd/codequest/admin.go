package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/codequest-dev/codequest/apiserver/auth"
	"github.com/codequest-dev/codequest/apiserver/session"
	"github.com/codequest-dev/codequest/apiserver/store"
)

// admin makes the first administrator of an installation, or gives an
// existing account a role: the way in before anyone can call
// UserService.SetUserRole. In a cluster:
//
//	kubectl exec -i deploy/codequest-api -- codequest admin --email you@example.com <password-file
func admin(ctx context.Context, args []string) error {
	dbURL := "postgres://codequest@127.0.0.1:5432/codequest"
	var email, name, role, passwordFile = "", "Administrator", auth.RoleAdmin, "-"
	fs := env{flag.NewFlagSet("admin", flag.ContinueOnError)}
	fs.str(&dbURL, "database-url", "CODEQUEST_DATABASE_URL", "Postgres URL")
	fs.StringVar(&email, "email", "", "the account's email (required)")
	fs.StringVar(&name, "name", name, "display name of a new account")
	fs.StringVar(&role, "role", role, "role to give: admin, instructor, business_partner or learner")
	fs.StringVar(&passwordFile, "password-file", passwordFile, `file whose first line is a new account's password ("-": standard input)`)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: codequest admin --email EMAIL [flags] <password")
		fmt.Fprintln(fs.Output(), "Makes a verified account with the role, or gives an existing account the role (its password is kept).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	email, ok := auth.NormalizeEmail(email)
	if !ok {
		fs.Usage()
		return errors.New("admin: --email must be an email address")
	}
	switch role {
	case auth.RoleAdmin, auth.RoleInstructor, auth.RoleBusinessPartner, auth.RoleLearner:
	default:
		return fmt.Errorf("admin: unknown role %q", role)
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer pool.Close()
	st := store.Open(pool)

	if u, err := st.GetUserByEmail(ctx, email); err == nil {
		err := st.InTx(ctx, func(q *store.Queries, _ pgx.Tx) error {
			if _, err := q.SetUserRole(ctx, store.SetUserRoleParams{ID: u.ID, Role: role}); err != nil {
				return fmt.Errorf("set role: %w", err)
			}
			_, err := session.End(ctx, q, u.ID)
			return err
		})
		if err != nil {
			return err
		}
		fmt.Printf("%s is now %s (password unchanged; its sessions end within %s: it signs in again)\n", email, role, session.TTL)
		return nil
	} else if !store.IsNoRows(err) {
		return fmt.Errorf("look up %s: %w", email, err)
	}

	in := io.Reader(os.Stdin)
	if passwordFile != "-" {
		f, err := os.Open(passwordFile)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read password: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	if p := auth.PasswordProblem(password, email); p != "" {
		return fmt.Errorf("admin: the password %s", p)
	}
	created, err := ensureAccount(ctx, st, email, name, role, password)
	if err != nil {
		return err
	}
	if !created {
		return fmt.Errorf("admin: %s was made meanwhile; run again to set its role", email)
	}
	fmt.Printf("%s created, verified, %s\n", email, role)
	return nil
}

// ensureAccount makes a verified account with password unless one with the
// email exists; it reports whether it made it.
func ensureAccount(ctx context.Context, st *store.Store, email, name, role, password string) (bool, error) {
	if _, err := st.GetUserByEmail(ctx, email); err == nil {
		return false, nil
	} else if !store.IsNoRows(err) {
		return false, fmt.Errorf("look up %s: %w", email, err)
	}
	hash, err := auth.Hasher{Params: auth.OWASPParams}.Hash(password)
	if err != nil {
		return false, err
	}
	err = st.InTx(ctx, func(q *store.Queries, _ pgx.Tx) error {
		now := time.Now()
		u, err := q.CreateUser(ctx, store.CreateUserParams{Email: email, DisplayName: name, Role: role, EmailVerifiedAt: &now})
		if err != nil {
			return err
		}
		return q.SetPassword(ctx, store.SetPasswordParams{UserID: u.ID, PasswordHash: hash})
	})
	switch {
	case store.IsUniqueViolation(err, ""):
		return false, nil // made meanwhile by someone else
	case err != nil:
		return false, fmt.Errorf("create %s: %w", email, err)
	}
	return true, nil
}
