package submissions

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/codequest-dev/codequest/apiserver/store"
)

// Update is the state of a submission as the judge reports it (from the
// Submission resource's status).
type Update struct {
	ID uuid.UUID
	// Phase is queued, compiling, running, completed or failed.
	Phase           string
	Verdict         string // set with completed or failed
	Message         string
	CurrentTest     int32
	TestsPassed     int32
	TestsTotal      int32
	MaxCPUMillis    int64
	PeakMemoryKiB   int64
	Tests           []TestUpdate
	CompilerMessage string
	RunOutput       string
	// Report locates the full judge report (bucket/key), if one was stored.
	Report string
}

// TestUpdate is one finished test.
type TestUpdate struct {
	Verdict   string
	CPUMillis int64
	MemoryKiB int64
}

var phaseRank = map[string]int16{"queued": 0, "compiling": 1, "running": 2, "completed": 3, "failed": 3}

// XP per difficulty for the first accepted submission of a problem.
var xpFor = map[string]int32{"easy": 10, "medium": 20, "hard": 40}

var knownVerdicts = []string{"ACCEPTED", "WRONG_ANSWER", "TIME_LIMIT_EXCEEDED", "MEMORY_LIMIT_EXCEEDED",
	"OUTPUT_LIMIT_EXCEEDED", "RUNTIME_ERROR", "COMPILATION_ERROR", "INTERNAL_ERROR"}

// verdictOf is a reported verdict as stored: an unknown one (or none with
// a final phase) is a failed judging.
func verdictOf(v string) string {
	if slices.Contains(knownVerdicts, v) {
		return v
	}
	return "INTERNAL_ERROR"
}

// Apply moves a submission's row forward to u, once: a stale or repeated
// update changes nothing and publishes nothing. The final update counts
// the problem's statistics and, when accepted, awards XP and the streak,
// in the same transaction. It reports whether the row changed.
func (s *Service) Apply(ctx context.Context, u Update) (bool, error) {
	rank, ok := phaseRank[u.Phase]
	if !ok {
		return false, fmt.Errorf("unknown phase %q", u.Phase)
	}
	tests := make([]testJSON, 0, len(u.Tests))
	for _, t := range u.Tests {
		tests = append(tests, testJSON{Verdict: verdictOf(t.Verdict), CPUMillis: max(t.CPUMillis, 0), MemoryKiB: max(t.MemoryKiB, 0)})
	}
	testsJSON, err := json.Marshal(tests)
	if err != nil {
		return false, err
	}
	// What the judge reports is stored whatever it holds: text that
	// Postgres cannot store (NUL, invalid UTF-8) is replaced, numbers are
	// kept in range, an unknown verdict is a failed judging.
	params := store.AdvanceSubmissionParams{
		ID: u.ID, Phase: u.Phase, PhaseRank: rank, Message: storable(u.Message), CurrentTest: max(u.CurrentTest, 0),
		TestsPassed: max(u.TestsPassed, 0), TestsTotal: max(u.TestsTotal, 0), MaxCpuMs: max(u.MaxCPUMillis, 0),
		PeakMemoryKib: max(u.PeakMemoryKiB, 0), Tests: testsJSON, CompilerMessage: storable(u.CompilerMessage),
		RunOutput: storable(u.RunOutput), Report: storable(u.Report),
	}
	if rank == 3 {
		v := verdictOf(u.Verdict)
		params.Verdict = &v
	}
	var row store.Submission
	changed := false
	var newXP int64 = -1
	err = s.st.InTx(ctx, func(q *store.Queries, _ pgx.Tx) error {
		changed, newXP = false, -1
		var err error
		row, err = q.AdvanceSubmission(ctx, params)
		if store.IsNoRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		changed = true
		if rank < 3 || row.Mode != "submit" {
			return nil
		}
		accepted := params.Verdict != nil && *params.Verdict == "ACCEPTED"
		if err := q.CountProblemSubmission(ctx, store.CountProblemSubmissionParams{ID: row.ProblemID, Accepted: accepted}); err != nil {
			return err
		}
		if _, err := q.RecordAttempt(ctx, store.RecordAttemptParams{UserID: row.UserID, ProblemID: row.ProblemID, Accepted: accepted}); err != nil {
			return err
		}
		if !accepted {
			return nil
		}
		if _, err := q.TouchStreak(ctx, row.UserID); err != nil {
			return err
		}
		p, err := q.GetProblem(ctx, row.ProblemID)
		if err != nil {
			return err
		}
		if earn, err := earnsXP(ctx, q, p, row.UserID); err != nil || !earn {
			return err
		}
		xp, err := q.AwardXP(ctx, store.AwardXPParams{UserID: row.UserID, ProblemID: row.ProblemID, SubmissionID: row.ID, Xp: xpFor[p.Difficulty]})
		if store.IsNoRows(err) {
			return nil // solved before: no XP twice
		}
		if err != nil {
			return err
		}
		if newXP, err = q.AddUserXP(ctx, store.AddUserXPParams{ID: row.UserID, Xp: int64(xp)}); err != nil {
			return err
		}
		row.XpAwarded = xp
		return q.SetSubmissionXP(ctx, store.SetSubmissionXPParams{ID: row.ID, Xp: xp})
	})
	if err != nil || !changed {
		return false, err
	}
	if rank == 3 && row.Mode == "submit" {
		s.problems.InvalidateUser(ctx, row.UserID.String())
	}
	if newXP >= 0 && s.board != nil {
		s.board.Record(ctx, row.UserID, newXP)
	}
	s.publish(ctx, row)
	return true, nil
}

// earnsXP: XP is for solving published problems one did not write:
// editors (the author, the organization's instructors and owners) earn none
// on their own problems, and nobody on drafts or archived ones.
func earnsXP(ctx context.Context, q *store.Queries, p store.Problem, user uuid.UUID) (bool, error) {
	if p.Status != "published" || p.AuthorID != nil && *p.AuthorID == user {
		return false, nil
	}
	if p.OrganizationID == nil {
		return true, nil
	}
	m, err := q.GetMembership(ctx, store.GetMembershipParams{OrganizationID: *p.OrganizationID, UserID: user})
	if store.IsNoRows(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return m.Role != "instructor" && m.Role != "owner", nil
}

// publish tells every replica's watchers about the row's new state.
func (s *Service) publish(ctx context.Context, row store.Submission) {
	b, err := json.Marshal(event{Row: row})
	if err == nil {
		err = s.rdb.Publish(ctx, channel(row.ID), b).Err()
	}
	if err != nil {
		// Watchers still get the final state when they reconnect: the row
		// is the truth.
		s.log.WarnContext(ctx, "publish submission event", "submission", row.ID, "error", err)
	}
}

// DispatchArgs is the durable job that makes sure a submission's resource
// exists (the transactional outbox of Submit).
type DispatchArgs struct {
	SubmissionID uuid.UUID `json:"submission_id"`
}

// Kind implements river.JobArgs.
func (DispatchArgs) Kind() string { return "dispatch_submission" }

// InsertOpts puts dispatch jobs on their own queue.
func (DispatchArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: DispatchQueue, MaxAttempts: 25}
}

// DispatchQueue is the River queue of dispatch jobs.
const DispatchQueue = "dispatch"

// DispatchWorker creates the resource of a submission whose creation did
// not complete (API server crash, Kubernetes API unavailable). It retries
// with River's backoff until it succeeds.
type DispatchWorker struct {
	river.WorkerDefaults[DispatchArgs]
	Service *Service
}

// Timeout bounds one attempt.
func (w *DispatchWorker) Timeout(*river.Job[DispatchArgs]) time.Duration { return 30 * time.Second }

// Work implements river.Worker.
func (w *DispatchWorker) Work(ctx context.Context, job *river.Job[DispatchArgs]) error {
	s := w.Service
	row, err := s.st.GetSubmission(ctx, job.Args.SubmissionID)
	if store.IsNoRows(err) {
		return nil // deleted with its user or problem
	}
	if err != nil {
		return err
	}
	if row.CrCreatedAt != nil || row.PhaseRank >= 3 {
		return nil
	}
	if s.dispatcher == nil {
		return fmt.Errorf("judging is not configured")
	}
	p, err := s.st.GetProblem(ctx, row.ProblemID)
	if err != nil {
		return err
	}
	if err := s.dispatch(ctx, row, p); err != nil {
		return fmt.Errorf("dispatch %s: %w", row.ID, err)
	}
	s.log.InfoContext(ctx, "re-created a submission resource", "submission", row.ID)
	return nil
}
