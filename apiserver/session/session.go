// Package session keeps what authorization needs to know about an account
// at the moment of each call: its platform role, its session epoch and
// whether it is suspended. Postgres is the truth; Redis caches it briefly,
// written through on every change, so a change takes effect on the next
// call on every replica.
//
// Every change of that state starts a new session epoch (End), in the
// transaction of the change: access tokens carry the epoch they were issued
// in, and a token of an older epoch is refused. Role changes, suspensions,
// logouts, password resets and changes, and refresh token reuse all end
// the account's sessions that way.
package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/codequest-dev/codequest/apiserver/store"
)

// State is an account's authorization state.
type State struct {
	Role      string
	Epoch     int64
	Suspended bool
}

// ErrNoAccount is returned for an account that does not exist (any more).
var ErrNoAccount = errors.New("no such account")

// TTL is how long a cached state lives. Changes overwrite it at once; the
// TTL only bounds what a failed cache write could leave behind.
const TTL = 30 * time.Second

// Store reads states through the cache.
type Store struct {
	q   *store.Queries
	rdb *redis.Client
	log *slog.Logger
}

// New returns a Store on Postgres q and Redis rdb.
func New(q *store.Queries, rdb *redis.Client, log *slog.Logger) *Store {
	return &Store{q: q, rdb: rdb, log: log}
}

func key(id uuid.UUID) string { return "session:" + id.String() }

func encode(s State) string {
	susp := "0"
	if s.Suspended {
		susp = "1"
	}
	return strconv.FormatInt(s.Epoch, 10) + "|" + susp + "|" + s.Role
}

func decode(v string) (State, bool) {
	parts := strings.SplitN(v, "|", 3)
	if len(parts) != 3 {
		return State{}, false
	}
	e, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return State{}, false
	}
	return State{Epoch: e, Suspended: parts[1] == "1", Role: parts[2]}, true
}

// setNewer writes a state unless the cache holds a newer epoch, so that a
// reader filling the cache from an old read never overwrites the state a
// change wrote after it.
var setNewer = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  local e = tonumber(string.match(cur, '^(%d+)|'))
  if e and e > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`)

// Get returns the account's current state.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (State, error) {
	if v, err := s.rdb.Get(ctx, key(id)).Result(); err == nil {
		if st, ok := decode(v); ok {
			return st, nil
		}
	} else if !errors.Is(err, redis.Nil) {
		s.log.WarnContext(ctx, "session cache unavailable; reading Postgres", "error", err)
	}
	row, err := s.q.GetSessionState(ctx, id)
	if store.IsNoRows(err) {
		return State{}, ErrNoAccount
	}
	if err != nil {
		return State{}, fmt.Errorf("session state: %w", err)
	}
	st := State{Role: row.Role, Epoch: row.SessionEpoch, Suspended: row.Suspended}
	s.cache(ctx, id, st)
	return st, nil
}

// Publish records a state written by a committed transaction (the result
// of End). Call it after the commit.
func (s *Store) Publish(ctx context.Context, id uuid.UUID, st State) {
	if err := s.cache(ctx, id, st); err != nil {
		// The old state could stay cached until its TTL: drop it.
		if derr := s.rdb.Del(ctx, key(id)).Err(); derr != nil {
			s.log.ErrorContext(ctx, "session cache holds a stale state until it expires", "user", id, "error", derr)
		}
	}
}

func (s *Store) cache(ctx context.Context, id uuid.UUID, st State) error {
	err := setNewer.Run(ctx, s.rdb, []string{key(id)}, st.Epoch, encode(st), TTL.Milliseconds()).Err()
	if err != nil {
		s.log.WarnContext(ctx, "cache session state", "user", id, "error", err)
	}
	return err
}

// End ends every session of the account in the transaction of q: a new
// epoch refuses every access token issued before, and every refresh token
// is revoked. Publish the returned state once the transaction committed.
func End(ctx context.Context, q *store.Queries, id uuid.UUID) (State, error) {
	st, err := Bump(ctx, q, id)
	if err != nil {
		return st, err
	}
	if err := q.RevokeUserRefreshTokens(ctx, id); err != nil {
		return State{}, fmt.Errorf("revoke refresh tokens: %w", err)
	}
	return st, nil
}

// Bump starts a new epoch without revoking refresh tokens: every access
// token issued before stops working, and sessions whose refresh token is
// still valid get new ones through Refresh (logout of one session,
// revocation of one refresh token family).
func Bump(ctx context.Context, q *store.Queries, id uuid.UUID) (State, error) {
	row, err := q.EndSessions(ctx, id)
	if store.IsNoRows(err) {
		return State{}, ErrNoAccount
	}
	if err != nil {
		return State{}, fmt.Errorf("end sessions: %w", err)
	}
	return State{Role: row.Role, Epoch: row.SessionEpoch, Suspended: row.Suspended}, nil
}
