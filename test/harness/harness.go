package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

// registry holds the servers of one test binary. It is the package's only
// mutable state, and it cannot be avoided: the servers are shared by every
// test of the binary, which has no value to hang them on other than the
// package, and only Main, after m.Run, may stop them.
type registry struct {
	// main is set by Main; servers refuse to start without it, because
	// nothing else would stop them and remove their folders.
	main     atomic.Bool
	postgres lazy[*postgresServer]
	redis    lazy[*redisServer]
	minio    lazy[*minioServer]
	mail     lazy[*mailServer]
	kube     lazy[*kubeServer]
}

var services registry

// startTimeout bounds the start of one server, excluding building its binary.
const startTimeout = 2 * time.Minute

// Main runs the tests of m, stops every server they started, removes their
// folders and exits with the tests' status. Call it from TestMain:
//
//	func TestMain(m *testing.M) { harness.Main(m) }
func Main(m *testing.M) {
	services.main.Store(true)
	code := m.Run()
	if err := services.stop(); err != nil {
		fmt.Fprintf(os.Stderr, "harness: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// stop stops the servers that were started, concurrently, and prevents any
// further start.
func (r *registry) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stops := []func(context.Context) error{r.postgres.stop, r.redis.stop, r.minio.stop, r.mail.stop, r.kube.stop}
	errs := make([]error, len(stops))
	var wg sync.WaitGroup
	for i, stop := range stops {
		wg.Go(func() { errs[i] = stop(ctx) })
	}
	wg.Wait()
	return joinErrors("stop services", errs)
}

// server is what a started service can do at the end of the binary.
type server interface {
	stop(ctx context.Context) error
}

// lazy starts a server on first use, at most once, and remembers the outcome,
// so every test after a failed start fails fast with the same error.
type lazy[T server] struct {
	once    sync.Once
	started bool
	v       T
	err     error
}

// get returns the server, starting it first if no test did.
func (l *lazy[T]) get(name string, start func(ctx context.Context) (T, error)) (T, error) {
	l.once.Do(func() {
		if !services.main.Load() {
			l.err = fmt.Errorf("start %s: the test binary does not call harness.Main: add func TestMain(m *testing.M) { harness.Main(m) }", name)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		began := time.Now()
		l.v, l.err = start(ctx)
		if l.err != nil {
			l.err = fmt.Errorf("start %s: %w", name, l.err)
			return
		}
		l.started = true
		fmt.Fprintf(os.Stderr, "harness: %s ready in %v\n", name, time.Since(began).Round(time.Millisecond))
	})
	return l.v, l.err
}

// stop stops the server if it was started; afterwards get fails.
func (l *lazy[T]) stop(ctx context.Context) error {
	l.once.Do(func() { l.err = fmt.Errorf("the tests are over") })
	if !l.started {
		return nil
	}
	return l.v.stop(ctx)
}

// Env is one test's share of every service.
type Env struct {
	DB          *pgxpool.Pool
	DatabaseURL string
	Redis       *redis.Client
	Objects     *ObjectStore
	Mail        *Mailbox
}

// NewEnv gives t a database, a Redis DB, a bucket and a mailbox, starting
// the servers that are not running yet concurrently.
func NewEnv(t testing.TB) *Env {
	t.Helper()
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = services.postgres.get("postgres", startPostgres) })
	wg.Go(func() { _, _ = services.redis.get("redis", startRedis) })
	wg.Go(func() { _, _ = services.minio.get("minio", startMinIO) })
	wg.Go(func() { _, _ = services.mail.get("mailpit", startMail) })
	wg.Wait()
	url := PostgresURL(t)
	return &Env{
		DB:          connectPostgres(t, url),
		DatabaseURL: url,
		Redis:       Redis(t),
		Objects:     MinIO(t),
		Mail:        Mail(t),
	}
}

// joinErrors wraps the non-nil errs under what, or returns nil.
func joinErrors(what string, errs []error) error {
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
