package harness

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/codequest-dev/codequest/test/localsvc"
)

const (
	// redisDatabases is how many logical databases the started server has:
	// DB 0 for claims, the others for tests.
	redisDatabases = 1000
	// claimPrefix + N marks logical database N as taken, in DB 0.
	claimPrefix = "codequest:harness:db:"
	// claimTTL frees the claims of a binary that was killed, on a shared server.
	claimTTL = time.Hour
)

// claimScript takes the first free logical database in 1..ARGV[1]-1 and
// returns it, or -1 if all are taken.
var claimScript = redis.NewScript(`
for i = 1, tonumber(ARGV[1]) - 1 do
	if redis.call('SET', KEYS[1] .. i, ARGV[2], 'NX', 'EX', ARGV[3]) then
		return i
	end
end
return -1
`)

// redisServer is the binary's Redis: a started server, or the one of
// TEST_REDIS_URL.
type redisServer struct {
	base      *redis.Options // DB 0
	admin     *redis.Client  // DB 0, holds the claims
	databases int
	srv       *localsvc.Redis // nil if external
	dir       string
}

// Redis returns a client on a logical database of t's own, empty, flushed
// and released when t ends.
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	opts := RedisOptions(t)
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() }) // runs before the database is flushed
	return c
}

// RedisURL returns the redis:// URL of a logical database of t's own, empty,
// flushed and released when t ends.
func RedisURL(t testing.TB) string {
	t.Helper()
	opts := RedisOptions(t)
	u := url.URL{Scheme: "redis", Host: opts.Addr, Path: "/" + strconv.Itoa(opts.DB)}
	switch {
	case opts.Password != "":
		u.User = url.UserPassword(opts.Username, opts.Password)
	case opts.Username != "":
		u.User = url.User(opts.Username)
	}
	return u.String()
}

// RedisOptions returns client options for a logical database of t's own,
// empty, flushed and released when t ends.
func RedisOptions(t testing.TB) *redis.Options {
	t.Helper()
	s, err := services.redis.get("redis", startRedis)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := s.claim(ctx)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.release(ctx, db); err != nil {
			t.Errorf("harness: %v", err)
		}
	})
	opts := *s.base
	opts.DB = db
	return &opts
}

// claim takes a free logical database and empties it.
func (s *redisServer) claim(ctx context.Context) (int, error) {
	n, err := claimScript.Run(ctx, s.admin, []string{claimPrefix}, s.databases, randomHex(8), int(claimTTL/time.Second)).Int()
	if err != nil {
		return 0, fmt.Errorf("claim a redis database: %w", err)
	}
	if n < 0 {
		return 0, fmt.Errorf("claim a redis database: all %d are taken", s.databases-1)
	}
	// A killed binary of a shared server may have left data behind.
	if err := s.flush(ctx, n); err != nil {
		return 0, err
	}
	return n, nil
}

// release empties a logical database and frees it.
func (s *redisServer) release(ctx context.Context, db int) error {
	if err := s.flush(ctx, db); err != nil {
		return err
	}
	if err := s.admin.Del(ctx, claimPrefix+strconv.Itoa(db)).Err(); err != nil {
		return fmt.Errorf("release redis database %d: %w", db, err)
	}
	return nil
}

func (s *redisServer) flush(ctx context.Context, db int) error {
	opts := *s.base
	opts.DB = db
	c := redis.NewClient(&opts)
	defer c.Close()
	if err := c.FlushDB(ctx).Err(); err != nil {
		return fmt.Errorf("flush redis database %d: %w", db, err)
	}
	return nil
}

// startRedis starts the binary's Redis, or connects to TEST_REDIS_URL.
func startRedis(ctx context.Context) (*redisServer, error) {
	if raw := os.Getenv("TEST_REDIS_URL"); raw != "" {
		opts, err := redis.ParseURL(raw)
		if err != nil {
			return nil, fmt.Errorf("parse TEST_REDIS_URL: %w", err)
		}
		opts.DB = 0
		s := &redisServer{base: opts, admin: redis.NewClient(opts), databases: 16}
		// CONFIG may be disabled; 16 is Redis's default.
		if v, err := s.admin.ConfigGet(ctx, "databases").Result(); err == nil {
			if n, err := strconv.Atoi(v["databases"]); err == nil {
				s.databases = n
			}
		}
		if err := s.admin.Ping(ctx).Err(); err != nil {
			_ = s.admin.Close()
			return nil, fmt.Errorf("ping TEST_REDIS_URL: %w", err)
		}
		return s, nil
	}

	dir, err := tempDir("redis")
	if err != nil {
		return nil, err
	}
	srv, err := localsvc.StartRedis(ctx, localsvc.RedisSpec{Spec: localsvc.Spec{Dir: dir}, Databases: redisDatabases})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	base := &redis.Options{Addr: srv.Addr}
	return &redisServer{base: base, admin: redis.NewClient(base), databases: redisDatabases, srv: srv, dir: dir}, nil
}

// stop closes the claims client, and stops the started server and removes
// its folder.
func (s *redisServer) stop(ctx context.Context) error {
	var errs []error
	if err := s.admin.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close: %w", err))
	}
	if s.srv != nil {
		errs = append(errs, s.srv.Stop(ctx))
	}
	if s.dir != "" {
		if err := os.RemoveAll(s.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove redis folder: %w", err))
		}
	}
	return joinErrors("redis", errs)
}
