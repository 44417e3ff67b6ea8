package submissions_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/api/v1alpha1"
	"github.com/codequest-dev/codequest/apiserver"
	"github.com/codequest-dev/codequest/apiserver/apitest"
	"github.com/codequest-dev/codequest/apiserver/auth"
	"github.com/codequest-dev/codequest/test/harness"
)

// importDouble creates, imports and publishes the problems package's
// fixture through the API.
func importDouble(t *testing.T, c apitest.Clients, slug string) *codequestv1.Problem {
	t.Helper()
	ctx := context.Background()
	p, err := c.Problems.CreateProblem(ctx, connect.NewRequest(&codequestv1.CreateProblemRequest{Slug: slug, Title: "Double", Difficulty: codequestv1.Difficulty_DIFFICULTY_MEDIUM}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := apitest.ImportPackage(ctx, c, p.Msg.GetProblem().GetId(), apitest.ZipDir(t, "../problems/testdata/double", "", nil)); err != nil {
		t.Fatal(err)
	}
	pub, err := c.Problems.PublishProblem(ctx, connect.NewRequest(&codequestv1.PublishProblemRequest{ProblemId: p.Msg.GetProblem().GetId()}))
	if err != nil {
		t.Fatal(err)
	}
	return pub.Msg.GetProblem()
}

// The API side of judging against a real Kubernetes API: an import makes
// the Problem resource, Submit makes the Submission resource, and status
// written to it (here by the test, in the controller's place) streams to
// watchers on every replica and lands in Postgres once.
func TestSubmitThroughKubernetes(t *testing.T) {
	t.Parallel()
	kube := harness.Kube(t)
	env := apitest.New(t, apitest.WithKube(kube))
	replica := env.Replica(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	instructor := env.NewUser(t, auth.RoleInstructor)
	learner := env.NewUser(t, auth.RoleLearner)
	prob := importDouble(t, env.Clients(instructor.Auth()), "double-kube")

	var cr v1alpha1.Problem
	if err := kube.Client.Get(ctx, client.ObjectKey{Namespace: kube.Namespace, Name: prob.GetId()}, &cr); err != nil {
		t.Fatalf("Problem resource: %v", err)
	}
	if cr.Spec.Limits.TimeMillis != 1000 || cr.Spec.Limits.Memory.String() != "128Mi" || cr.Spec.Package.SHA256 != prob.GetPackage().GetSha256() || cr.Spec.Package.Size != prob.GetPackage().GetSizeBytes() {
		t.Errorf("Problem spec = %+v", cr.Spec)
	}

	lc := env.Clients(learner.Auth())
	sub, err := lc.Submissions.Submit(ctx, connect.NewRequest(&codequestv1.SubmitRequest{
		ProblemId: prob.GetId(), Language: "python3", Source: "print(2 * int(input()))\n", IdempotencyKey: "first-try",
	}))
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	id := sub.Msg.GetSubmission().GetId()
	again, err := lc.Submissions.Submit(ctx, connect.NewRequest(&codequestv1.SubmitRequest{
		ProblemId: prob.GetId(), Language: "python3", Source: "print(2 * int(input()))\n", IdempotencyKey: "first-try",
	}))
	if err != nil || again.Msg.GetSubmission().GetId() != id {
		t.Fatalf("idempotent retry: %v, %v", again, err)
	}
	var s v1alpha1.Submission
	if err := kube.Client.Get(ctx, client.ObjectKey{Namespace: kube.Namespace, Name: id}, &s); err != nil {
		t.Fatalf("Submission resource: %v", err)
	}
	if s.Spec.ProblemRef.Name != prob.GetId() || s.Labels[v1alpha1.UserLabel] != learner.ID.String() || *s.Spec.Source.Inline != "print(2 * int(input()))\n" {
		t.Errorf("Submission = %+v", s)
	}

	// Two watchers, one on each replica.
	watch := func(e *apitest.Env) <-chan []*codequestv1.WatchSubmissionResponse {
		out := make(chan []*codequestv1.WatchSubmissionResponse, 1)
		stream, err := e.Clients(learner.Auth(), connect.WithGRPC()).Submissions.WatchSubmission(ctx, connect.NewRequest(&codequestv1.WatchSubmissionRequest{SubmissionId: id}))
		if err != nil {
			t.Fatal(err)
		}
		if !stream.Receive() { // the current state comes first
			t.Fatalf("no first message: %v", stream.Err())
		}
		first := stream.Msg()
		go func() {
			got := []*codequestv1.WatchSubmissionResponse{first}
			for stream.Receive() {
				got = append(got, stream.Msg())
			}
			if err := stream.Err(); err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("stream: %v", err)
			}
			out <- got
		}()
		return out
	}
	w1, w2 := watch(env), watch(replica)

	// Play the controller: compiling, running test 1..3, accepted.
	set := func(f func(*v1alpha1.SubmissionStatus)) {
		t.Helper()
		if err := kube.Client.Get(ctx, client.ObjectKeyFromObject(&s), &s); err != nil {
			t.Fatal(err)
		}
		f(&s.Status)
		if err := kube.Client.Status().Update(ctx, &s); err != nil {
			t.Fatal(err)
		}
	}
	set(func(st *v1alpha1.SubmissionStatus) { st.Phase, st.TestsTotal = v1alpha1.PhaseCompiling, 3 })
	for k := int32(1); k <= 3; k++ {
		set(func(st *v1alpha1.SubmissionStatus) {
			st.Phase, st.CurrentTest = v1alpha1.PhaseRunning, k
			if k > 1 {
				st.Tests = append(st.Tests, v1alpha1.TestSummary{Verdict: v1alpha1.VerdictAccepted, CPUMillis: 12, MemoryKiB: 9000})
				st.TestsPassed = k - 1
			}
		})
	}
	mem := resource.MustParse("9000Ki")
	set(func(st *v1alpha1.SubmissionStatus) {
		st.Phase, st.Verdict, st.TestsPassed, st.CurrentTest = v1alpha1.PhaseCompleted, v1alpha1.VerdictAccepted, 3, 0
		st.Tests = append(st.Tests, v1alpha1.TestSummary{Verdict: v1alpha1.VerdictAccepted, CPUMillis: 15, MemoryKiB: 9000})
		st.MaxCPUTime, st.PeakMemory = &metav1.Duration{Duration: 15 * time.Millisecond}, &mem
	})

	for name, w := range map[string]<-chan []*codequestv1.WatchSubmissionResponse{"replica 1": w1, "replica 2": w2} {
		var got []*codequestv1.WatchSubmissionResponse
		select {
		case got = <-w:
		case <-ctx.Done():
			t.Fatalf("%s: stream did not end", name)
		}
		last := got[len(got)-1].GetSubmission()
		if last.GetPhase() != codequestv1.SubmissionPhase_SUBMISSION_PHASE_COMPLETED || last.GetVerdict() != codequestv1.Verdict_VERDICT_ACCEPTED ||
			last.GetTestsPassed() != 3 || len(last.GetTests()) != 3 || last.GetXpAwarded() != 20 || last.GetMaxCpuTimeMs() != 15 {
			t.Errorf("%s: last message %v", name, last)
		}
		sawRunning := false
		for _, m := range got {
			if m.GetSubmission().GetPhase() == codequestv1.SubmissionPhase_SUBMISSION_PHASE_RUNNING {
				sawRunning = true
			}
		}
		if !sawRunning || len(got) < 3 {
			t.Errorf("%s: %d messages, running seen %v", name, len(got), sawRunning)
		}
	}
	me, err := lc.Users.GetMe(ctx, connect.NewRequest(&codequestv1.GetMeRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if me.Msg.GetUser().GetXp() != 20 {
		t.Errorf("XP = %d after one medium problem (two replicas applied the same events)", me.Msg.GetUser().GetXp())
	}
	// A late watcher gets the final state at once, and the stream ends.
	late, err := lc.Submissions.WatchSubmission(ctx, connect.NewRequest(&codequestv1.WatchSubmissionRequest{SubmissionId: id}))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for late.Receive() {
		n++
		if late.Msg().GetSubmission().GetVerdict() != codequestv1.Verdict_VERDICT_ACCEPTED {
			t.Errorf("late watcher got %v", late.Msg())
		}
	}
	if n != 1 || late.Err() != nil {
		t.Errorf("late watcher: %d messages, %v", n, late.Err())
	}
	// Others cannot watch or read it.
	stranger := env.Clients(env.NewUser(t, auth.RoleLearner).Auth())
	_, err = stranger.Submissions.GetSubmissionCode(ctx, connect.NewRequest(&codequestv1.GetSubmissionCodeRequest{SubmissionId: id}))
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("stranger reads code: %v", err)
	}
	list, err := lc.Submissions.ListSubmissions(ctx, connect.NewRequest(&codequestv1.ListSubmissionsRequest{ProblemId: prob.GetId()}))
	if err != nil || len(list.Msg.GetSubmissions()) != 1 {
		t.Errorf("ListSubmissions = %v, %v", list, err)
	}
}

// A submission whose resource could not be created (here: the judge
// namespace did not exist yet) is not lost: the durable job written with
// the row creates it later.
func TestDispatchRetriedByDurableJob(t *testing.T) {
	t.Parallel()
	kube := harness.Kube(t)
	ns := kube.Namespace + "-late"
	env := apitest.New(t, apitest.WithKube(kube), func(c *apiserver.Config) {
		c.JudgeNamespace = ns
		c.Submissions.SweepAfter = 2 * time.Second
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	instructor := env.NewUser(t, auth.RoleInstructor)
	learner := env.NewUser(t, auth.RoleLearner)
	prob := importDouble(t, env.Clients(instructor.Auth()), "double-late")
	sub, err := env.Clients(learner.Auth()).Submissions.Submit(ctx, connect.NewRequest(&codequestv1.SubmitRequest{
		ProblemId: prob.GetId(), Language: "python3", Source: "print(2 * int(input()))\n",
	}))
	if err != nil {
		t.Fatalf("Submit while the namespace is missing: %v", err)
	}
	if sub.Msg.GetSubmission().GetPhase() != codequestv1.SubmissionPhase_SUBMISSION_PHASE_QUEUED {
		t.Errorf("phase = %v", sub.Msg.GetSubmission().GetPhase())
	}
	if err := kube.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.Client.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	})
	id := uuid.MustParse(sub.Msg.GetSubmission().GetId())
	// The Problem resource, whose publication failed on import, follows.
	for {
		var p v1alpha1.Problem
		err := kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: prob.GetId()}, &p)
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the Problem resource was never published (last error %v)", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	for {
		var s v1alpha1.Submission
		err := kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: id.String()}, &s)
		row, rerr := env.Store.GetSubmission(ctx, id)
		if rerr != nil {
			t.Fatal(rerr)
		}
		if err == nil && row.CrCreatedAt != nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the resource was never re-created (last error %v)", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
