package judge

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"
)

// ProvisionalTimeLimit is the CPU limit the accepted submissions run under
// while a package's time limit is being derived from them.
const ProvisionalTimeLimit = 10 * time.Second

// DeriveTimeLimit sets p.TimeLimit when the package does not fix it (no
// limits.time_limit, no .timelimit), as the legacy format has it: every
// accepted submission is judged (under ProvisionalTimeLimit) and the limit
// is the slowest one's CPU time on its slowest test × p.TimeMultiplier
// (limits.time_multiplier, default 5), rounded up to whole seconds. An
// accepted submission that is not ACCEPTED then is an error: the package is
// broken. It does nothing when p already has a time limit.
func (j *Judge) DeriveTimeLimit(ctx context.Context, p *Problem) error {
	if p.TimeLimit > 0 {
		return nil
	}
	var slowest time.Duration
	var slowestName string
	n := 0
	for _, s := range p.Submissions {
		if s.Folder != "accepted" {
			continue
		}
		lang, ok := LanguageByExt(j.cfg.Languages, s.Path)
		if !ok {
			continue
		}
		src, err := os.ReadFile(s.Path)
		if err != nil {
			return err
		}
		q := *p
		q.TimeLimit = ProvisionalTimeLimit
		r, err := j.Judge(ctx, &q, lang, src, Options{})
		if err != nil {
			return fmt.Errorf("derive the time limit: %s: %w", filepath.Base(s.Path), err)
		}
		if r.Verdict != Accepted {
			return fmt.Errorf("derive the time limit: accepted/%s got %s (%s)", filepath.Base(s.Path), r.Verdict, r.Message)
		}
		n++
		if d := time.Duration(r.MaxCPUMillis) * time.Millisecond; d >= slowest {
			slowest, slowestName = d, filepath.Base(s.Path)
		}
	}
	if n == 0 {
		return fmt.Errorf("problem %s has no time limit (limits.time_limit or .timelimit) and no accepted submission to derive it from", p.Name)
	}
	p.TimeLimit = RoundTimeLimit(slowest, p.TimeMultiplier)
	p.TimeLimitFrom = fmt.Sprintf("derived: slowest of %d accepted (%s, %d ms) × %g, rounded up",
		n, slowestName, slowest.Milliseconds(), p.TimeMultiplier)
	return nil
}

// RoundTimeLimit is slowest × multiplier rounded up to whole seconds, at
// least one second.
func RoundTimeLimit(slowest time.Duration, multiplier float64) time.Duration {
	s := math.Ceil(slowest.Seconds()*multiplier - 1e-9)
	if s < 1 {
		s = 1
	}
	return time.Duration(s) * time.Second
}
