package localsvc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	// PostgresBin holds the Debian postgresql-15 package's server binaries.
	PostgresBin     = "/usr/lib/postgresql/15/bin"
	postgresInstall = "install PostgreSQL 15: apt-get install postgresql-15"
)

// Postgres is a running PostgreSQL server. Its superuser is "postgres",
// trusted without a password on 127.0.0.1 (and, with Spec.Host, from the
// networks this machine is on).
type Postgres struct {
	// Host and Port are the server's address.
	Host string
	Port int
	// Initialized says the cluster was made by this start (initdb), and
	// InitTime how long that took.
	Initialized bool
	InitTime    time.Duration
	proc        *process
}

// URL returns the URL of database on the server, as its superuser.
func (p *Postgres) URL(database string) string {
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort(p.Host, strconv.Itoa(p.Port)),
		Path: "/" + database, RawQuery: "sslmode=disable"}
	return u.String()
}

// Stop shuts the server down (fast shutdown: sessions are ended, data is
// checkpointed).
func (p *Postgres) Stop(ctx context.Context) error {
	if err := p.proc.stop(ctx); err != nil {
		return fmt.Errorf("stop postgres: %w", err)
	}
	return nil
}

// StartPostgres starts PostgreSQL on the cluster in spec.Dir/data, making
// the cluster first (initdb) if there is none. As root both run as the
// postgres user, since PostgreSQL refuses to run as root; that user must
// be able to reach spec.Dir.
func StartPostgres(ctx context.Context, spec Spec) (*Postgres, error) {
	for _, b := range []string{"initdb", "postgres"} {
		if err := requireFile(filepath.Join(PostgresBin, b), postgresInstall); err != nil {
			return nil, err
		}
	}
	if err := makeDir("postgres", spec.Dir); err != nil {
		return nil, err
	}
	cred, err := postgresCredential()
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(spec.Dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("give %s to the postgres user: %w", spec.Dir, err)
		}
	}
	p := &Postgres{Host: spec.host()}
	data := filepath.Join(spec.Dir, "data")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		began := time.Now()
		if err := initdb(ctx, spec, cred, data); err != nil {
			return nil, err
		}
		p.Initialized, p.InitTime = true, time.Since(began)
	} else if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}

	args := []string{"-D", data, "-k", spec.Dir,
		"-c", "listen_addresses=" + spec.host(),
		"-c", "max_connections=200", "-c", "shared_buffers=32MB", "-c", "jit=off"}
	if !spec.Persist {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off",
			"-c", "full_page_writes=off", "-c", "autovacuum=off")
	}
	err = onPorts(ctx, "postgres", []int{spec.Port}, func(ports []int) error {
		proc, err := startProcess(procSpec{
			name: "postgres", path: filepath.Join(PostgresBin, "postgres"), dir: spec.Dir, cred: cred,
			env:     []string{"LC_ALL=C", "TZ=UTC"},
			stopSig: syscall.SIGINT, // fast shutdown
			args:    slices.Concat(args, []string{"-p", strconv.Itoa(ports[0])}),
		})
		if err != nil {
			return err
		}
		p.Port = ports[0]
		err = proc.waitReady(ctx, func(ctx context.Context) error {
			conn, err := pgx.Connect(ctx, p.URL("postgres"))
			if err != nil {
				return err
			}
			return conn.Close(ctx)
		})
		if err != nil {
			_ = proc.stop(context.WithoutCancel(ctx))
			return err
		}
		p.proc = proc
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// initdb makes a cluster in data: first beside it, then renamed, so that a
// start interrupted during initdb does not leave half a cluster.
func initdb(ctx context.Context, spec Spec, cred *syscall.Credential, data string) error {
	tmp := data + ".init"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("remove an unfinished cluster: %w", err)
	}
	args := []string{"-D", tmp, "-U", "postgres", "--auth=trust", "--encoding=UTF8",
		"--locale=C", "--no-instructions"}
	if !spec.Persist {
		args = append(args, "--no-sync")
	}
	err := runToEnd(ctx, procSpec{
		name: "initdb", path: filepath.Join(PostgresBin, "initdb"), dir: spec.Dir, cred: cred,
		env: []string{"LC_ALL=C", "TZ=UTC"}, args: args,
	})
	if err != nil {
		if cred != nil {
			err = fmt.Errorf("%w (as the postgres user, which must be able to reach %s)", err, spec.Dir)
		}
		return err
	}
	if spec.host() != "127.0.0.1" {
		// Clients come from this machine's own networks (a local
		// cluster's bridge): trusted as on loopback.
		f, err := os.OpenFile(filepath.Join(tmp, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		_, err = f.WriteString("host all all samenet trust\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
	}
	if err := os.Rename(tmp, data); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// postgresCredential returns the postgres user's when this process runs as
// root, and nil otherwise.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the unprivileged postgres user to run PostgreSQL: %v; %s creates it", err, postgresInstall)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}
