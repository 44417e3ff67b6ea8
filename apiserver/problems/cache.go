package problems

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/proto"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/apiserver/auth"
	"github.com/codequest-dev/codequest/apiserver/store"
)

// Listings are cached in Redis per caller and query. Every key embeds two
// generation counters: the global one, bumped by any problem write, and
// the caller's own, bumped when what they solved changes. Bumping a counter
// invalidates every listing that depends on it at once; old entries expire
// on their own. Losing Redis loses nothing but speed.
const (
	genKey     = "problems:gen"
	userGenKey = "problems:user-gen:"
)

// InvalidateUser drops a user's cached listings (after their first
// accepted submission of a problem, say).
func (s *Service) InvalidateUser(ctx context.Context, userID string) {
	if err := s.rdb.Incr(ctx, userGenKey+userID).Err(); err != nil {
		s.log.WarnContext(ctx, "invalidate user listings", "error", err)
	}
}

func (s *Service) invalidate(ctx context.Context) {
	if err := s.rdb.Incr(ctx, genKey).Err(); err != nil {
		s.log.WarnContext(ctx, "invalidate problem listings", "error", err)
	}
}

func (s *Service) cachedList(ctx context.Context, c *auth.Caller, params store.ListProblemsParams, size int32) (*codequestv1.ListProblemsResponse, error) {
	gens, err := s.rdb.MGet(ctx, genKey, userGenKey+c.UserID.String()).Result()
	if err != nil {
		s.log.WarnContext(ctx, "problem listing cache unavailable", "error", err)
		return s.list(ctx, params, size)
	}
	q, _ := json.Marshal(params)
	sum := sha256.Sum256(q)
	key := fmt.Sprintf("problems:list:%v:%v:%s", gens[0], gens[1], hex.EncodeToString(sum[:16]))
	if b, err := s.rdb.Get(ctx, key).Bytes(); err == nil {
		var out codequestv1.ListProblemsResponse
		if proto.Unmarshal(b, &out) == nil {
			return &out, nil
		}
	}
	out, err := s.list(ctx, params, size)
	if err != nil {
		return nil, err
	}
	if b, err := proto.Marshal(out); err == nil {
		if err := s.rdb.Set(ctx, key, b, s.ListTTL).Err(); err != nil {
			s.log.WarnContext(ctx, "cache problem listing", "error", err)
		}
	}
	return out, nil
}
