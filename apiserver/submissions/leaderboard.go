package submissions

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/api/proto/codequest/v1/codequestv1connect"
	"github.com/codequest-dev/codequest/apiserver/apierr"
	"github.com/codequest-dev/codequest/apiserver/store"
)

// Leaderboard ranks users by XP in Redis sorted sets: one global, one per
// organization. Postgres holds the XP; a set that is missing (Redis lost,
// or expired) is rebuilt from it on the next read. Organization sets expire
// after a minute, so membership changes show without bookkeeping.
type Leaderboard struct {
	codequestv1connect.UnimplementedLeaderboardServiceHandler
	st  *store.Store
	rdb *redis.Client
	log *slog.Logger
}

var _ codequestv1connect.LeaderboardServiceHandler = (*Leaderboard)(nil)

// NewLeaderboard returns the LeaderboardService.
func NewLeaderboard(st *store.Store, rdb *redis.Client, log *slog.Logger) *Leaderboard {
	return &Leaderboard{st: st, rdb: rdb, log: log}
}

const (
	globalBoard  = "codequest:leaderboard:global"
	orgBoard     = "codequest:leaderboard:org:"
	builtSuffix  = ":built"
	orgBoardTTL  = time.Minute
	globalRebase = time.Hour
)

// Record sets a user's XP in the global board (organization boards follow
// within their TTL).
func (l *Leaderboard) Record(ctx context.Context, user uuid.UUID, xp int64) {
	if err := l.rdb.ZAdd(ctx, globalBoard, redis.Z{Score: float64(xp), Member: user.String()}).Err(); err != nil {
		l.log.WarnContext(ctx, "leaderboard update", "error", err)
	}
}

// ensure rebuilds key from Postgres unless its marker says it is built.
func (l *Leaderboard) ensure(ctx context.Context, key string, org *uuid.UUID) error {
	n, err := l.rdb.Exists(ctx, key+builtSuffix).Result()
	if err != nil || n == 1 {
		return err
	}
	type row struct {
		id uuid.UUID
		xp int64
	}
	var rows []row
	if org == nil {
		rs, err := l.st.TopXP(ctx)
		if err != nil {
			return err
		}
		for _, r := range rs {
			rows = append(rows, row{r.ID, r.Xp})
		}
	} else {
		rs, err := l.st.TopXPInOrganization(ctx, *org)
		if err != nil {
			return err
		}
		for _, r := range rs {
			rows = append(rows, row{r.ID, r.Xp})
		}
	}
	ttl := globalRebase
	if org != nil {
		ttl = orgBoardTTL
	}
	_, err = l.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, key)
		for _, r := range rows {
			p.ZAdd(ctx, key, redis.Z{Score: float64(r.xp), Member: r.id.String()})
		}
		if org != nil {
			p.Expire(ctx, key, ttl+10*time.Second)
		}
		p.Set(ctx, key+builtSuffix, "1", ttl)
		return nil
	})
	return err
}

// rank is 1 + the number of users with strictly more XP.
func (l *Leaderboard) rank(ctx context.Context, key string, xp float64) (int64, error) {
	n, err := l.rdb.ZCount(ctx, key, "("+strconv.FormatFloat(xp, 'f', -1, 64), "+inf").Result()
	return n + 1, err
}

// GetLeaderboard implements LeaderboardService.GetLeaderboard.
func (l *Leaderboard) GetLeaderboard(ctx context.Context, req *connect.Request[codequestv1.GetLeaderboardRequest]) (*connect.Response[codequestv1.GetLeaderboardResponse], error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	m := req.Msg
	v := &apierr.Validation{}
	limit := m.GetLimit()
	v.Check(limit >= 0 && limit <= 100, "limit", "must be 0 to 100")
	if limit == 0 {
		limit = 20
	}
	key := globalBoard
	var org *uuid.UUID
	if o := m.GetOrganizationId(); o != "" {
		id, err := uuid.Parse(o)
		v.Check(err == nil, "organization_id", "must be a UUID")
		org, key = &id, orgBoard+id.String()
	}
	if err := v.Err(); err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	if org != nil && !c.IsAdmin() {
		_, err := l.st.GetMembership(ctx, store.GetMembershipParams{OrganizationID: *org, UserID: c.UserID})
		if store.IsNoRows(err) {
			return nil, apierr.Connect(ctx, apierr.New(apierr.ErrPermission, "you are not a member of this organization"))
		}
		if err != nil {
			return nil, apierr.Connect(ctx, err)
		}
	}
	if err := l.ensure(ctx, key, org); err != nil {
		return nil, apierr.Connect(ctx, fmt.Errorf("leaderboard: %w", err))
	}
	top, err := l.rdb.ZRevRangeWithScores(ctx, key, 0, int64(limit)-1).Result()
	if err != nil {
		return nil, apierr.Connect(ctx, fmt.Errorf("leaderboard: %w", err))
	}
	total, err := l.rdb.ZCard(ctx, key).Result()
	if err != nil {
		return nil, apierr.Connect(ctx, fmt.Errorf("leaderboard: %w", err))
	}
	ids := make([]uuid.UUID, 0, len(top)+1)
	for _, z := range top {
		if id, err := uuid.Parse(fmt.Sprint(z.Member)); err == nil {
			ids = append(ids, id)
		}
	}
	ids = append(ids, c.UserID)
	names := map[uuid.UUID]string{}
	rows, err := l.st.DisplayNames(ctx, ids)
	if err != nil {
		return nil, apierr.Connect(ctx, fmt.Errorf("leaderboard names: %w", err))
	}
	for _, r := range rows {
		names[r.ID] = r.DisplayName
	}
	out := &codequestv1.GetLeaderboardResponse{Total: total, Entries: []*codequestv1.LeaderboardEntry{}}
	for _, z := range top {
		id, _ := uuid.Parse(fmt.Sprint(z.Member))
		r, err := l.rank(ctx, key, z.Score)
		if err != nil {
			return nil, apierr.Connect(ctx, err)
		}
		out.Entries = append(out.Entries, &codequestv1.LeaderboardEntry{Rank: r, UserId: id.String(), DisplayName: names[id], Xp: int64(z.Score)})
	}
	me := &codequestv1.LeaderboardEntry{UserId: c.UserID.String(), DisplayName: names[c.UserID]}
	score, err := l.rdb.ZScore(ctx, key, c.UserID.String()).Result()
	switch {
	case err == redis.Nil:
	case err != nil:
		return nil, apierr.Connect(ctx, err)
	default:
		me.Xp = int64(score)
		if me.Rank, err = l.rank(ctx, key, score); err != nil {
			return nil, apierr.Connect(ctx, err)
		}
	}
	out.Me = me
	return connect.NewResponse(out), nil
}
