// Package e2e runs CodeQuest end to end on one machine: real PostgreSQL,
// Redis, MinIO, mailpit and Kubernetes API server (test/harness), the
// controllers with the local executor judging in the real sandbox, and two
// API server replicas — driven only through the public API with Connect
// and gRPC clients.
package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/api/v1alpha1"
	"github.com/codequest-dev/codequest/apiserver/apitest"
	"github.com/codequest-dev/codequest/apiserver/auth"
	"github.com/codequest-dev/codequest/controllers"
	"github.com/codequest-dev/codequest/judge"
	"github.com/codequest-dev/codequest/sandbox"
	"github.com/codequest-dev/codequest/sandbox/sandboxtest"
	"github.com/codequest-dev/codequest/test/harness"
)

func TestMain(m *testing.M) {
	sandbox.Main() // the sandbox re-executes this binary as its init
	harness.Main(m)
}

// platform is one running CodeQuest.
type platform struct {
	api, replica *apitest.Env
	kube         *harness.Cluster
	sandboxInit  string
	// StopController stops the running controller manager (as a crash or
	// a rollout would); startController starts another.
	StopController func()
}

func start(t testing.TB, opts ...apitest.Option) *platform {
	t.Helper()
	kube := harness.Kube(t)
	api := apitest.New(t, append(opts, apitest.WithKube(kube))...)
	p := &platform{api: api, replica: api.Replica(t), kube: kube, sandboxInit: sandboxtest.BuildInit(t)}
	ctrl.SetLogger(logr.Discard())
	p.startController(t)
	return p
}

// startController runs a controller manager with the local executor, as
// codequest dev does.
func (p *platform) startController(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := ctrl.NewManager(p.kube.Config, controllers.ManagerOptions(p.kube.Scheme, controllers.ManagerConfig{
		Namespaces: []string{p.kube.Namespace}, MetricsAddr: "0", ProbeAddr: "0", SkipNameValidation: true,
	}))
	if err != nil {
		t.Fatal(err)
	}
	// The sandbox's init is the small static judge binary, as in
	// production: a big test binary as init would count against each
	// run's memory.
	sb, err := sandbox.New(ctx, sandbox.Config{InitPath: p.sandboxInit})
	if err != nil {
		t.Fatal(err)
	}
	j, err := judge.New(judge.Config{Sandbox: sb, Languages: judge.Languages(judge.DefaultToolchains()), CacheDir: filepath.Join(os.TempDir(), "codequest-e2e-judge-cache"), Parallel: judge.DefaultParallel()})
	if err != nil {
		t.Fatal(err)
	}
	o := p.api.Config.Objects
	if err := controllers.SetupLocal(ctx, mgr, controllers.LocalConfig{
		Judge:      j,
		Objects:    controllers.ObjectStoreConfig{Endpoint: o.Endpoint, AccessKey: o.AccessKey, SecretKey: o.SecretKey, Region: o.Region, UseTLS: o.UseTLS},
		PackageDir: t.TempDir(), Workers: 2, Queue: 100, PerUser: 2, SubmissionConcurrency: 8, ProblemConcurrency: 2,
	}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	p.StopController = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("controller manager: %v", err)
			}
			_ = sb.Close()
		})
	}
	t.Cleanup(p.StopController)
}

// publishDouble imports the double fixture as a new problem, waits for the
// controllers to verify its labelled submissions, and publishes it.
func (p *platform) publishDouble(t *testing.T, ctx context.Context, tc apitest.Clients, slug string) *codequestv1.Problem {
	t.Helper()
	created, err := tc.Problems.CreateProblem(ctx, connect.NewRequest(&codequestv1.CreateProblemRequest{
		Slug: slug, Title: "Double", Difficulty: codequestv1.Difficulty_DIFFICULTY_MEDIUM, Tags: []string{"warmup"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	prob, err := apitest.ImportPackage(ctx, tc, created.Msg.GetProblem().GetId(), apitest.ZipDir(t, "../../apiserver/problems/testdata/double", "double", nil))
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	for prob.GetPackage().GetVerification() != "agreed" {
		if v := prob.GetPackage().GetVerification(); v == "disagreed" {
			var cr v1alpha1.Problem
			_ = p.kube.Client.Get(ctx, client.ObjectKey{Namespace: p.kube.Namespace, Name: prob.GetId()}, &cr)
			t.Fatalf("package verification disagreed: %+v", cr.Status)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("package never verified: %v", prob.GetPackage())
		case <-time.After(250 * time.Millisecond):
		}
		res, err := tc.Problems.GetProblem(ctx, connect.NewRequest(&codequestv1.GetProblemRequest{Problem: prob.GetId()}))
		if err != nil {
			t.Fatal(err)
		}
		prob = res.Msg.GetProblem()
	}
	if _, err := tc.Problems.PublishProblem(ctx, connect.NewRequest(&codequestv1.PublishProblemRequest{ProblemId: prob.GetId()})); err != nil {
		t.Fatal(err)
	}
	return prob
}

// signUp makes an account through the API (JSON), verified from the mail
// sink, signed in.
func (p *platform) signUp(t *testing.T, ctx context.Context, name string) (string, *codequestv1.LoginResponse) {
	t.Helper()
	return apitest.SignUpPassword, apitest.SignUp(t, ctx, p.api.Clients(connect.WithProtoJSON()), p.api.Harness.Mail, name)
}

// watch streams a submission to its verdict and returns every message.
func watch(t *testing.T, ctx context.Context, c apitest.Clients, id string) []*codequestv1.WatchSubmissionResponse {
	t.Helper()
	got, err := apitest.Watch(ctx, c, id)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestLearnerJourney(t *testing.T) {
	p := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	// Accounts: an admin bootstraps the platform (as codequest dev seeds
	// one); everyone else comes through the public API.
	admin := p.api.NewUser(t, auth.RoleAdmin)
	teacherPassword, teacher := p.signUp(t, ctx, "teacher")
	_, learner := p.signUp(t, ctx, "learner")
	if _, err := p.api.Clients(admin.Auth()).Users.SetUserRole(ctx, connect.NewRequest(&codequestv1.SetUserRoleRequest{
		UserId: teacher.GetUser().GetId(), Role: codequestv1.Role_ROLE_INSTRUCTOR,
	})); err != nil {
		t.Fatal(err)
	}
	// A role change ends the account's sessions: the teacher signs in again.
	rt, err := p.api.Clients().Auth.Login(ctx, connect.NewRequest(&codequestv1.LoginRequest{Email: teacher.GetUser().GetEmail(), Password: teacherPassword}))
	if err != nil {
		t.Fatal(err)
	}
	tc := p.api.Clients(apitest.Bearer(rt.Msg.GetTokens().GetAccessToken()))
	lc := p.api.Clients(apitest.Bearer(learner.GetTokens().GetAccessToken()), connect.WithGRPC())
	lcReplica := p.replica.Clients(apitest.Bearer(learner.GetTokens().GetAccessToken()))

	// The instructor imports a package; the controllers verify its labelled
	// submissions in the sandbox.
	prob := p.publishDouble(t, ctx, tc, "double")

	// The learner submits in every language, and three that fail.
	cases := []struct {
		file, language string
		want           codequestv1.Verdict
	}{
		{"double.py", "python3", codequestv1.Verdict_VERDICT_ACCEPTED},
		{"double.js", "javascript", codequestv1.Verdict_VERDICT_ACCEPTED},
		{"double.ts", "typescript", codequestv1.Verdict_VERDICT_ACCEPTED},
		{"double.cpp", "cpp", codequestv1.Verdict_VERDICT_ACCEPTED},
		{"Double.java", "java", codequestv1.Verdict_VERDICT_ACCEPTED},
		{"double.go", "go", codequestv1.Verdict_VERDICT_ACCEPTED},
		{"wrong.py", "python3", codequestv1.Verdict_VERDICT_WRONG_ANSWER},
		{"slow.py", "python3", codequestv1.Verdict_VERDICT_TIME_LIMIT_EXCEEDED},
		{"broken.cpp", "cpp", codequestv1.Verdict_VERDICT_COMPILATION_ERROR},
	}
	for i, tc := range cases {
		src, err := os.ReadFile(filepath.Join("testdata", "solutions", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		res, err := lc.Submissions.Submit(ctx, connect.NewRequest(&codequestv1.SubmitRequest{
			ProblemId: prob.GetId(), Language: tc.language, Source: string(src),
		}))
		if err != nil {
			t.Fatalf("Submit %s: %v", tc.file, err)
		}
		// Alternate the replica that streams: events reach both.
		c := lc
		if i%2 == 1 {
			c = lcReplica
		}
		got := watch(t, ctx, c, res.Msg.GetSubmission().GetId())
		last := got[len(got)-1].GetSubmission()
		if last.GetVerdict() != tc.want {
			t.Errorf("%s: verdict %v (%s %s), want %v", tc.file, last.GetVerdict(), last.GetMessage(), last.GetCompilerMessage(), tc.want)
		}
		if tc.want == codequestv1.Verdict_VERDICT_COMPILATION_ERROR && last.GetCompilerMessage() == "" {
			t.Errorf("%s: no compiler message", tc.file)
		}
		if tc.want == codequestv1.Verdict_VERDICT_ACCEPTED && (last.GetTestsPassed() != 3 || len(last.GetTests()) != 3) {
			t.Errorf("%s: %d of %d tests, %d results", tc.file, last.GetTestsPassed(), last.GetTestsTotal(), len(last.GetTests()))
		}
	}

	list, err := lc.Submissions.ListSubmissions(ctx, connect.NewRequest(&codequestv1.ListSubmissionsRequest{ProblemId: prob.GetId(), PageSize: 5}))
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Msg.GetSubmissions()) != 5 || list.Msg.GetNextPageToken() == "" {
		t.Errorf("first page of submissions: %d, next %q", len(list.Msg.GetSubmissions()), list.Msg.GetNextPageToken())
	}

	// XP once for the problem (medium: 20), a one-day streak, first place.
	me, err := lc.Users.GetMe(ctx, connect.NewRequest(&codequestv1.GetMeRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if me.Msg.GetUser().GetXp() != 20 {
		t.Errorf("XP = %d, want 20 (six accepted submissions of one medium problem)", me.Msg.GetUser().GetXp())
	}
	board, err := lcReplica.Leaderboard.GetLeaderboard(ctx, connect.NewRequest(&codequestv1.GetLeaderboardRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if board.Msg.GetMe().GetRank() != 1 || board.Msg.GetMe().GetXp() != 20 {
		t.Errorf("leaderboard: %v", board.Msg)
	}
	solved, err := lc.Problems.ListProblems(ctx, connect.NewRequest(&codequestv1.ListProblemsRequest{Solved: new(true)}))
	if err != nil {
		t.Fatal(err)
	}
	if len(solved.Msg.GetProblems()) != 1 || !solved.Msg.GetProblems()[0].GetSolved() {
		t.Errorf("solved problems: %v", solved.Msg.GetProblems())
	}
	got, err := tc.Problems.GetProblem(ctx, connect.NewRequest(&codequestv1.GetProblemRequest{Problem: prob.GetId()}))
	if err != nil {
		t.Fatal(err)
	}
	if g := got.Msg.GetProblem(); g.GetSubmissionCount() != 9 || g.GetAcceptedCount() != 6 {
		t.Errorf("problem statistics: %d accepted of %d", g.GetAcceptedCount(), g.GetSubmissionCount())
	}

	// Run: custom input, the program's output, nothing recorded.
	run, err := lc.Submissions.Run(ctx, connect.NewRequest(&codequestv1.RunRequest{
		ProblemId: prob.GetId(), Language: "python3", Source: "print(2 * int(input()))\n", Input: "21\n",
	}))
	if err != nil {
		t.Fatal(err)
	}
	final := watch(t, ctx, lc, run.Msg.GetSubmission().GetId())
	if last := final[len(final)-1]; last.GetSubmission().GetPhase() != codequestv1.SubmissionPhase_SUBMISSION_PHASE_COMPLETED || last.GetRunOutput() != "42\n" {
		t.Errorf("run ended %v with output %q", last.GetSubmission(), last.GetRunOutput())
	}
	list, err = lc.Submissions.ListSubmissions(ctx, connect.NewRequest(&codequestv1.ListSubmissionsRequest{ProblemId: prob.GetId(), PageSize: 100}))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(list.Msg.GetSubmissions()); n != 9 {
		t.Errorf("%d submissions listed after a Run, want 9", n)
	}
	var ce *connect.Error
	if _, err := lc.Submissions.GetSubmissionCode(ctx, connect.NewRequest(&codequestv1.GetSubmissionCodeRequest{SubmissionId: "nope"})); !errors.As(err, &ce) || ce.Code() != connect.CodeInvalidArgument {
		t.Errorf("bad id: %v", err)
	}
}
