package submissions_test

import (
	"context"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/apiserver/apitest"
	"github.com/codequest-dev/codequest/apiserver/auth"
	"github.com/codequest-dev/codequest/apiserver/store"
	"github.com/codequest-dev/codequest/apiserver/submissions"
	"github.com/codequest-dev/codequest/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// problem inserts a published problem with a package directly, by an
// author of its own (authors earn no XP on their problems).
func problem(t *testing.T, env *apitest.Env, _ uuid.UUID, slug, difficulty string) store.Problem {
	t.Helper()
	ctx := context.Background()
	author := env.NewUser(t, auth.RoleInstructor).ID
	p, err := env.Store.CreateProblem(ctx, store.CreateProblemParams{
		Slug: slug, Title: slug, Difficulty: difficulty, Visibility: "public", AuthorID: &author,
		Tags: []string{}, Topics: []string{}, Hints: []string{}, Languages: []string{},
	})
	if err != nil {
		t.Fatal(err)
	}
	key, sum, size := "k", "0000000000000000000000000000000000000000000000000000000000000000", int64(1)
	if p, err = env.Store.SetProblemPackage(ctx, store.SetProblemPackageParams{
		ID: p.ID, PackageKey: &key, PackageSha256: &sum, PackageSize: &size, PackageTests: 3,
		Validation: "default", TimeLimitMs: 1000, MemoryMib: 256, OutputMib: 8, Samples: []byte("[]"),
	}); err != nil {
		t.Fatal(err)
	}
	if p, err = env.Store.SetProblemStatus(ctx, store.SetProblemStatusParams{ID: p.ID, Status: "published"}); err != nil {
		t.Fatal(err)
	}
	return p
}

// Editors earn no XP on their own problems, and nobody on unpublished ones;
// a NUL in the program's output still makes a storable verdict.
func TestApplyXPRulesAndStorableText(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := context.Background()
	svc := env.App.Submissions
	author := env.NewUser(t, auth.RoleInstructor)
	own, err := env.Store.CreateProblem(ctx, store.CreateProblemParams{
		Slug: "own-draft", Title: "Own", Difficulty: "hard", Visibility: "public", AuthorID: &author.ID,
		Tags: []string{}, Topics: []string{}, Hints: []string{}, Languages: []string{},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := submission(t, env, author.ID, own)
	u := accepted(s.ID)
	u.Message, u.RunOutput, u.CompilerMessage = "out\x00put \xff", "\x00", "a\x00b"
	if changed, err := svc.Apply(ctx, u); err != nil || !changed {
		t.Fatalf("Apply with NUL text: %v, %v", changed, err)
	}
	me, err := env.Store.GetUser(ctx, author.ID)
	if err != nil {
		t.Fatal(err)
	}
	if me.Xp != 0 {
		t.Errorf("the author earned %d XP on their own draft", me.Xp)
	}
	// A NUL in a running update and an unknown verdict are stored too.
	s2 := submission(t, env, author.ID, own)
	if _, err := svc.Apply(ctx, submissions.Update{ID: s2.ID, Phase: "completed", Verdict: "BOGUS", Message: "\x00"}); err != nil {
		t.Fatalf("Apply with an unknown verdict: %v", err)
	}
	row, err := env.Store.GetSubmission(ctx, s2.ID)
	if err != nil || row.Verdict == nil || *row.Verdict != "INTERNAL_ERROR" {
		t.Errorf("unknown verdict stored as %v (%v)", row.Verdict, err)
	}
}

func submission(t *testing.T, env *apitest.Env, user uuid.UUID, p store.Problem) store.Submission {
	t.Helper()
	s, err := env.Store.CreateSubmission(context.Background(), store.CreateSubmissionParams{
		UserID: user, ProblemID: p.ID, Mode: "submit", Language: "python3", Source: "print(1)", TestsTotal: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func accepted(id uuid.UUID) submissions.Update {
	return submissions.Update{ID: id, Phase: "completed", Verdict: "ACCEPTED", TestsPassed: 3, TestsTotal: 3,
		Tests: []submissions.TestUpdate{{Verdict: "ACCEPTED"}, {Verdict: "ACCEPTED"}, {Verdict: "ACCEPTED"}}}
}

// The verdict flow moves forward only, counts statistics once, and awards
// XP and the streak once per problem, however often events repeat.
func TestApplyForwardOnlyAndOnce(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := context.Background()
	svc := env.App.Submissions
	u := env.NewUser(t, auth.RoleLearner)
	p := problem(t, env, u.ID, "flow-easy", "easy")
	s1 := submission(t, env, u.ID, p)

	steps := []struct {
		u       submissions.Update
		changed bool
	}{
		{submissions.Update{ID: s1.ID, Phase: "compiling"}, true},
		{submissions.Update{ID: s1.ID, Phase: "compiling"}, false}, // repeat
		{submissions.Update{ID: s1.ID, Phase: "running", CurrentTest: 1}, true},
		{submissions.Update{ID: s1.ID, Phase: "running", CurrentTest: 2, Tests: []submissions.TestUpdate{{Verdict: "ACCEPTED"}}}, true},
		{submissions.Update{ID: s1.ID, Phase: "running", CurrentTest: 1}, false}, // stale
		{submissions.Update{ID: s1.ID, Phase: "compiling"}, false},               // stale
		{accepted(s1.ID), true},
		{accepted(s1.ID), false},
		{submissions.Update{ID: s1.ID, Phase: "running", CurrentTest: 3}, false},
	}
	for i, st := range steps {
		changed, err := svc.Apply(ctx, st.u)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if changed != st.changed {
			t.Errorf("step %d (%s %d): changed = %v, want %v", i, st.u.Phase, st.u.CurrentTest, changed, st.changed)
		}
	}
	row, err := env.Store.GetSubmission(ctx, s1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if row.Phase != "completed" || row.Verdict == nil || *row.Verdict != "ACCEPTED" || row.XpAwarded != 10 || row.FinishedAt == nil {
		t.Errorf("row = %+v", row)
	}
	// A second accepted submission of the same problem earns nothing more.
	s2 := submission(t, env, u.ID, p)
	if _, err := svc.Apply(ctx, accepted(s2.ID)); err != nil {
		t.Fatal(err)
	}
	// A wrong answer counts in the statistics only.
	s3 := submission(t, env, u.ID, p)
	if _, err := svc.Apply(ctx, submissions.Update{ID: s3.ID, Phase: "completed", Verdict: "WRONG_ANSWER", TestsTotal: 3}); err != nil {
		t.Fatal(err)
	}
	user, err := env.Store.GetUser(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if user.Xp != 10 || user.StreakDays != 1 || user.LongestStreak != 1 || !user.LastActiveDay.Valid {
		t.Errorf("xp %d, streak %d/%d, last %v", user.Xp, user.StreakDays, user.LongestStreak, user.LastActiveDay)
	}
	pr, err := env.Store.GetProblem(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if pr.SubmissionCount != 3 || pr.AcceptedCount != 2 {
		t.Errorf("stats %d/%d, want 2 accepted of 3", pr.AcceptedCount, pr.SubmissionCount)
	}
	// Yesterday's activity extends the streak; an older one restarts it.
	if _, err := env.App.Pool.Exec(ctx, `UPDATE users SET last_active_day = (now() AT TIME ZONE timezone)::date - 1, streak_days = 4 WHERE id = $1`, u.ID); err != nil {
		t.Fatal(err)
	}
	hard := problem(t, env, u.ID, "flow-hard", "hard")
	if _, err := svc.Apply(ctx, accepted(submission(t, env, u.ID, hard).ID)); err != nil {
		t.Fatal(err)
	}
	user, _ = env.Store.GetUser(ctx, u.ID)
	if user.Xp != 50 || user.StreakDays != 5 || user.LongestStreak != 5 {
		t.Errorf("after a hard problem the next day: xp %d, streak %d/%d", user.Xp, user.StreakDays, user.LongestStreak)
	}

	// The leaderboard shows it, with the caller's own rank.
	other := env.NewUser(t, auth.RoleLearner)
	res, err := env.Clients(other.Auth()).Leaderboard.GetLeaderboard(ctx, connect.NewRequest(&codequestv1.GetLeaderboardRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Msg.GetEntries()) != 1 || res.Msg.GetEntries()[0].GetXp() != 50 || res.Msg.GetEntries()[0].GetRank() != 1 || res.Msg.GetMe().GetRank() != 0 {
		t.Errorf("leaderboard = %v", res.Msg)
	}
	// Losing Redis loses nothing: the board is rebuilt from Postgres.
	if err := env.App.Redis.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	res, err = env.Clients(u.Auth()).Leaderboard.GetLeaderboard(ctx, connect.NewRequest(&codequestv1.GetLeaderboardRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Msg.GetMe().GetRank() != 1 || res.Msg.GetMe().GetXp() != 50 || res.Msg.GetTotal() != 1 {
		t.Errorf("rebuilt leaderboard = %v", res.Msg)
	}
}

// Concurrent deliveries of the same final event award XP once.
func TestApplyConcurrentOnce(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := context.Background()
	u := env.NewUser(t, auth.RoleLearner)
	p := problem(t, env, u.ID, "flow-race", "medium")
	s := submission(t, env, u.ID, p)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := env.App.Submissions.Apply(ctx, accepted(s.ID))
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	user, _ := env.Store.GetUser(ctx, u.ID)
	pr, _ := env.Store.GetProblem(ctx, p.ID)
	if user.Xp != 20 || pr.SubmissionCount != 1 {
		t.Errorf("xp %d, submissions %d after 8 concurrent deliveries", user.Xp, pr.SubmissionCount)
	}
}
