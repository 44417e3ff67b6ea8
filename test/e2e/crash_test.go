package e2e

import (
	"context"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"sigs.k8s.io/controller-runtime/pkg/client"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/api/v1alpha1"
	"github.com/codequest-dev/codequest/apiserver/apitest"
	"github.com/codequest-dev/codequest/apiserver/auth"
)

// In the middle of a batch, the controller manager stops (its judging is
// lost with it) and every API server replica goes away. A new manager
// judges everything again, and a new replica, started after the verdicts,
// catches up from the Submission resources: no verdict is lost and the XP
// of the problem is awarded once.
func TestCrashesMidBatch(t *testing.T) {
	p := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	teacher := p.api.NewUser(t, auth.RoleInstructor)
	prob := p.publishDouble(t, ctx, p.api.Clients(teacher.Auth()), "double-crash")
	learner := p.api.NewUser(t, auth.RoleLearner)
	lc := p.api.Clients(learner.Auth())

	sources := []string{
		"print(2 * int(input()))\n",
		"n = int(input())\nprint(n + n)\n",
		"print(int(input()) * 2)\n",
		"print(int(input()) + 1)\n", // wrong
		"import sys\nprint(2 * int(sys.stdin.read()))\n",
		"x = int(input())\nprint(x * 2)\n",
	}
	var ids []uuid.UUID
	for _, src := range sources {
		res, err := lc.Submissions.Submit(ctx, connect.NewRequest(&codequestv1.SubmitRequest{ProblemId: prob.GetId(), Language: "python3", Source: src}))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, uuid.MustParse(res.Msg.GetSubmission().GetId()))
	}
	// Crash: the controller and both API server replicas go away while
	// the batch is being judged; a new controller comes up at once.
	p.StopController()
	p.api.Stop()
	p.replica.Stop()
	p.startController(t)

	// The new controller judges everything, with no API server running.
	for {
		done := 0
		for _, id := range ids {
			var s v1alpha1.Submission
			if err := p.kube.Client.Get(ctx, client.ObjectKey{Namespace: p.kube.Namespace, Name: id.String()}, &s); err != nil {
				t.Fatal(err)
			}
			if s.Status.Phase.Finished() {
				done++
			}
		}
		if done == len(ids) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d judged after the crash", done, len(ids))
		case <-time.After(250 * time.Millisecond):
		}
	}

	// A new replica catches up from the resources.
	fresh := p.api.Replica(t)
	for {
		done := 0
		for _, id := range ids {
			row, err := fresh.Store.GetSubmission(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if row.PhaseRank == 3 {
				done++
			}
		}
		if done == len(ids) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d verdicts in Postgres after the restart", done, len(ids))
		case <-time.After(250 * time.Millisecond):
		}
	}
	fc := fresh.Clients(apitest.Bearer(learner.Tokens.GetAccessToken()))
	for i, id := range ids {
		res, err := fc.Submissions.GetSubmission(ctx, connect.NewRequest(&codequestv1.GetSubmissionRequest{SubmissionId: id.String()}))
		if err != nil {
			t.Fatal(err)
		}
		want := codequestv1.Verdict_VERDICT_ACCEPTED
		if i == 3 {
			want = codequestv1.Verdict_VERDICT_WRONG_ANSWER
		}
		if got := res.Msg.GetSubmission().GetVerdict(); got != want {
			t.Errorf("submission %d: %v, want %v", i, got, want)
		}
	}
	me, err := fc.Users.GetMe(ctx, connect.NewRequest(&codequestv1.GetMeRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if xp := me.Msg.GetUser().GetXp(); xp != 20 {
		t.Errorf("XP = %d, want 20 once for the problem", xp)
	}
	pr, err := fresh.Store.GetProblem(ctx, uuid.MustParse(prob.GetId()))
	if err != nil {
		t.Fatal(err)
	}
	if pr.SubmissionCount != int64(len(ids)) || pr.AcceptedCount != int64(len(ids)-1) {
		t.Errorf("problem statistics %d accepted of %d, want %d of %d", pr.AcceptedCount, pr.SubmissionCount, len(ids)-1, len(ids))
	}
}
