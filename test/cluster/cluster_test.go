//go:build cluster

package cluster

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/api/v1alpha1"
	"github.com/codequest-dev/codequest/apiserver/apitest"
)

// The platform as the tests find it after setup: accounts and the problem.
var (
	teacher, learner apitest.Clients
	learnerID        string
	sumbig           *codequestv1.Problem
)

// signUp makes an account through the API (JSON), verified from the mail
// sink, signed in.
func signUp(t testing.TB, ctx context.Context, name string) *codequestv1.LoginResponse {
	t.Helper()
	return apitest.SignUp(t, ctx, clients(connect.WithProtoJSON()), s.mail, name)
}

// TestCluster runs in order: accounts and the problem first, then
// submissions of every kind, then the node's behaviour under disruption.
func TestCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	go recordJudgePods(ctx)
	steps := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context)
	}{
		{"accounts", accounts},
		{"import", importProblem},
		{"verdicts", verdicts},
		{"judge pods run under gVisor", judgePods},
		{"a judge pod without the RuntimeClass is refused", refusedPod},
		{"a deleted judge pod is judged again", deletedPod},
		{"a full quota keeps Submissions Queued", fullQuota},
		{"a controller restart mid-batch loses nothing", controllerRestart},
	}
	for _, st := range steps {
		if !t.Run(st.name, func(t *testing.T) { st.fn(t, ctx) }) {
			t.Fatalf("%s failed: the later steps depend on it", st.name)
		}
	}
}

func accounts(t *testing.T, ctx context.Context) {
	anon := clients()
	login, err := anon.Auth.Login(ctx, connect.NewRequest(&codequestv1.LoginRequest{Email: adminEmail, Password: adminPassword}))
	if err != nil {
		t.Fatalf("the administrator made with `codequest admin` cannot log in: %v", err)
	}
	admin := clients(apitest.Bearer(login.Msg.GetTokens().GetAccessToken()))
	tl := signUp(t, ctx, "teacher")
	ll := signUp(t, ctx, "learner")
	if _, err := admin.Users.SetUserRole(ctx, connect.NewRequest(&codequestv1.SetUserRoleRequest{
		UserId: tl.GetUser().GetId(), Role: codequestv1.Role_ROLE_INSTRUCTOR})); err != nil {
		t.Fatal(err)
	}
	// A role change ends the account's sessions: the teacher signs in again.
	rt, err := anon.Auth.Login(ctx, connect.NewRequest(&codequestv1.LoginRequest{Email: tl.GetUser().GetEmail(), Password: apitest.SignUpPassword}))
	if err != nil {
		t.Fatal(err)
	}
	teacher = clients(apitest.Bearer(rt.Msg.GetTokens().GetAccessToken()))
	// The learner speaks gRPC, the teacher Connect.
	learner = clients(apitest.Bearer(ll.GetTokens().GetAccessToken()), connect.WithGRPC())
	learnerID = ll.GetUser().GetId()
}

// importProblem imports the corpus's sumbig through the presigned upload;
// the controller judges its labelled submissions in judge pods before the
// Problem is Ready.
func importProblem(t *testing.T, ctx context.Context) {
	created, err := teacher.Problems.CreateProblem(ctx, connect.NewRequest(&codequestv1.CreateProblemRequest{
		Slug: "sumbig", Title: "Big Sum", Difficulty: codequestv1.Difficulty_DIFFICULTY_EASY}))
	if err != nil {
		t.Fatal(err)
	}
	p, err := apitest.ImportPackage(ctx, teacher, created.Msg.GetProblem().GetId(), apitest.ZipDir(t, filepath.Join(s.corpus, "sumbig"), "", nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := teacher.Problems.PublishProblem(ctx, connect.NewRequest(&codequestv1.PublishProblemRequest{ProblemId: p.GetId()})); err != nil {
		t.Fatal(err)
	}
	// Verification: every labelled submission of the package, judged as
	// a Submission in a judge pod.
	began := time.Now()
	for {
		got, err := teacher.Problems.GetProblem(ctx, connect.NewRequest(&codequestv1.GetProblemRequest{Problem: p.GetId()}))
		if err != nil {
			t.Fatal(err)
		}
		if v := got.Msg.GetProblem().GetPackage().GetVerification(); v != "verifying" {
			t.Logf("package verification after %v: %q", time.Since(began).Round(time.Second), v)
			if v != "agreed" {
				t.Fatalf("package verification %q, want agreed (every labelled submission got its label)", v)
			}
			sumbig = got.Msg.GetProblem()
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the package's verification did not finish")
		}
		time.Sleep(2 * time.Second)
	}
	var prob v1alpha1.Problem
	if err := s.kube.Get(ctx, types.NamespacedName{Namespace: s.judgeNS, Name: sumbig.GetId()}, &prob); err != nil {
		t.Fatal(err)
	}
	if !conditionTrue(prob.Status.Conditions, "Ready") {
		t.Fatalf("Problem %s not Ready: %+v", prob.Name, prob.Status.Conditions)
	}
}

func conditionTrue(cs []metav1.Condition, typ string) bool {
	for _, c := range cs {
		if c.Type == typ {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}

// submission is one program the suite submits and the verdicts a safe judge
// may give it.
type submission struct {
	name, lang, source string
	want               []codequestv1.Verdict
}

func corpusFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.corpus, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// watchBatch is how many submissions the suite watches at once: fewer than
// a user may (serve's --watches-per-user, 8).
const watchBatch = 6

// submitAndWatch submits the programs a batch at a time, streams each to
// its verdict and checks it.
func submitAndWatch(t *testing.T, ctx context.Context, subs []submission) map[string]*codequestv1.Submission {
	t.Helper()
	final := map[string]*codequestv1.Submission{}
	for batch := range slices.Chunk(subs, watchBatch) {
		maps.Copy(final, submitAndWatchBatch(t, ctx, batch))
	}
	return final
}

func submitAndWatchBatch(t *testing.T, ctx context.Context, subs []submission) map[string]*codequestv1.Submission {
	t.Helper()
	var mu sync.Mutex
	final := map[string]*codequestv1.Submission{}
	var wg sync.WaitGroup
	for _, sb := range subs {
		res, err := learner.Submissions.Submit(ctx, connect.NewRequest(&codequestv1.SubmitRequest{
			ProblemId: sumbig.GetId(), Language: sb.lang, Source: sb.source}))
		if err != nil {
			t.Fatalf("Submit %s: %v", sb.name, err)
		}
		id := res.Msg.GetSubmission().GetId()
		wg.Go(func() {
			last, phases := watch(t, ctx, id)
			if !slices.Contains(sb.want, last.GetVerdict()) {
				t.Errorf("%s: verdict %v (%s), want one of %v", sb.name, last.GetVerdict(), last.GetMessage(), sb.want)
			}
			if !slices.Contains(phases, codequestv1.SubmissionPhase_SUBMISSION_PHASE_RUNNING) && last.GetVerdict() != codequestv1.Verdict_VERDICT_COMPILATION_ERROR {
				t.Errorf("%s: the stream never said running: %v", sb.name, phases)
			}
			mu.Lock()
			final[sb.name] = last
			mu.Unlock()
		})
	}
	wg.Wait()
	return final
}

// watch streams a submission to its final message.
func watch(t *testing.T, ctx context.Context, id string) (*codequestv1.Submission, []codequestv1.SubmissionPhase) {
	msgs, err := apitest.Watch(ctx, learner, id)
	if err != nil {
		t.Error(err)
	}
	var last *codequestv1.Submission
	var phases []codequestv1.SubmissionPhase
	for _, m := range msgs {
		last = m.GetSubmission()
		if len(phases) == 0 || phases[len(phases)-1] != last.GetPhase() {
			phases = append(phases, last.GetPhase())
		}
	}
	return last, phases
}

var (
	ac  = codequestv1.Verdict_VERDICT_ACCEPTED
	wa  = codequestv1.Verdict_VERDICT_WRONG_ANSWER
	tle = codequestv1.Verdict_VERDICT_TIME_LIMIT_EXCEEDED
	mle = codequestv1.Verdict_VERDICT_MEMORY_LIMIT_EXCEEDED
	rte = codequestv1.Verdict_VERDICT_RUNTIME_ERROR
	ce  = codequestv1.Verdict_VERDICT_COMPILATION_ERROR
)

// verdicts: accepted, wrong, too slow, too big, not compiling and hostile
// programs in several languages, each judged in its own pod.
func verdicts(t *testing.T, ctx context.Context) {
	before := hostSnapshot(t)
	t.Logf("node before: %s", before)
	final := submitAndWatch(t, ctx, []submission{
		{"accepted python", "python3", corpusFile(t, "sumbig/submissions/accepted/sum.py"), []codequestv1.Verdict{ac}},
		{"accepted c++", "cpp", corpusFile(t, "sumbig/submissions/accepted/sum.cpp"), []codequestv1.Verdict{ac}},
		{"accepted go", "go", corpusFile(t, "sumbig/submissions/accepted/sum.go"), []codequestv1.Verdict{ac}},
		{"wrong answer", "python3", corpusFile(t, "sumbig/submissions/wrong_answer/double.py"), []codequestv1.Verdict{wa}},
		{"time limit", "cpp", fixture(t, "spin.cpp"), []codequestv1.Verdict{tle}},
		{"memory limit", "cpp", fixture(t, "hog.cpp"), []codequestv1.Verdict{mle}},
		{"compile error", "cpp", corpusFile(t, "sumbig/submissions/compile_error/syntax.cpp"), []codequestv1.Verdict{ce}},
		{"hostile: fork bomb", "python3", corpusFile(t, "attacks/forkbomb.py"), []codequestv1.Verdict{tle, rte}},
		{"hostile: local connections", "python3", corpusFile(t, "attacks/connect_local.py"), []codequestv1.Verdict{ac, rte}},
	})
	if t.Failed() {
		return
	}
	// The node is unchanged: no process of a run left, nothing written
	// where the attacks tried.
	sameHost(t, ctx, before)

	// The learner's submissions, through the API and through kubectl.
	list, err := learner.Submissions.ListSubmissions(ctx, connect.NewRequest(&codequestv1.ListSubmissionsRequest{ProblemId: sumbig.GetId()}))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(list.Msg.GetSubmissions()); n < len(final) {
		t.Errorf("ListSubmissions: %d, want at least %d", n, len(final))
	}
	out := kubectl(t, "get", "submissions", "-n", s.judgeNS, "-l", v1alpha1.UserLabel+"="+learnerID)
	for name, sub := range final {
		if !strings.Contains(out, sub.GetId()) {
			t.Errorf("kubectl get submissions does not show %s (%s):\n%s", name, sub.GetId(), out)
		}
	}
	t.Logf("kubectl get submissions:\n%s", out)

	// XP for the first accepted submission of the problem, once.
	me, err := learner.Users.GetMe(ctx, connect.NewRequest(&codequestv1.GetMeRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if me.Msg.GetUser().GetXp() <= 0 {
		t.Errorf("XP %d after an accepted submission", me.Msg.GetUser().GetXp())
	}
	xp = me.Msg.GetUser().GetXp()
}

// xp is the learner's XP after the first accepted submissions; later steps
// resubmit accepted programs, which must not add to it.
var xp int64

// hostSnapshot is what the hostile programs must not change on the node:
// the files they try to leave, processes in the judge's per-run uid range
// (sandbox.Config.UIDBase: 2,000,000 and up) and gVisor sandboxes (each pod
// has its own; none may outlive its pod).
func hostSnapshot(t *testing.T) string {
	t.Helper()
	var leftovers []string
	for _, f := range []string{"/tmp/judge-daemon-alive", "/tmp/leak.txt", "/etc/leak.txt", "/var/tmp/leak.txt"} {
		if _, err := os.Stat(f); err == nil {
			leftovers = append(leftovers, f)
		}
	}
	runs, sandboxes := 0, 0
	procs, _ := filepath.Glob("/proc/[0-9]*/status")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) > 1 && f[0] == "Uid:" {
				if uid, err := strconv.Atoi(f[1]); err == nil && uid >= 2_000_000 {
					runs++
				}
			}
			if len(f) > 1 && f[0] == "Name:" && strings.HasPrefix(f[1], "runsc-sandbox") {
				sandboxes++
			}
		}
	}
	return fmt.Sprintf("files %v, run processes %d, gVisor sandboxes %d", leftovers, runs, sandboxes)
}

// sameHost waits until the node is as before: finished judge pods take a
// moment to go.
func sameHost(t *testing.T, ctx context.Context, before string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		after := hostSnapshot(t)
		if after == before {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("the node changed:\nbefore %s\nafter  %s", before, after)
			return
		}
		time.Sleep(time.Second)
	}
}

// judgePodRecord remembers every judge pod seen, with its RuntimeClass:
// pods go with their Job once the verdict is recorded.
var judgePodRecord = struct {
	sync.Mutex
	classes map[types.UID]string
	kubectl string // kubectl's jsonpath output while pods existed
}{classes: map[types.UID]string{}}

func recordJudgePods(ctx context.Context) {
	for ctx.Err() == nil {
		var pods corev1.PodList
		if err := s.kube.List(ctx, &pods, client.InNamespace(s.judgeNS)); err == nil {
			judgePodRecord.Lock()
			for _, p := range pods.Items {
				class := ""
				if p.Spec.RuntimeClassName != nil {
					class = *p.Spec.RuntimeClassName
				}
				judgePodRecord.classes[p.UID] = class
			}
			first := judgePodRecord.kubectl == "" && len(pods.Items) > 0
			judgePodRecord.Unlock()
			if first {
				out, err := exec.CommandContext(ctx, s.kubectl, "get", "pods", "-n", s.judgeNS,
					"-o", "jsonpath={..runtimeClassName}").Output()
				if err == nil && len(out) > 0 {
					judgePodRecord.Lock()
					judgePodRecord.kubectl = string(out)
					judgePodRecord.Unlock()
				}
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// judgePods: every judge pod seen so far (the package's verification and
// the verdicts) ran under the gvisor RuntimeClass.
func judgePods(t *testing.T, ctx context.Context) {
	judgePodRecord.Lock()
	defer judgePodRecord.Unlock()
	if len(judgePodRecord.classes) == 0 {
		t.Fatal("no judge pods were seen")
	}
	for uid, c := range judgePodRecord.classes {
		if c != "gvisor" {
			t.Errorf("judge pod %s ran with runtimeClassName %q", uid, c)
		}
	}
	for _, c := range strings.Fields(judgePodRecord.kubectl) {
		if c != "gvisor" {
			t.Errorf("kubectl get pods -o jsonpath={..runtimeClassName}: %q", judgePodRecord.kubectl)
		}
	}
	t.Logf("%d judge pods, all gvisor; kubectl jsonpath {..runtimeClassName}: %s", len(judgePodRecord.classes), judgePodRecord.kubectl)
}

// refusedPod: the admission policy refuses a pod in the judge namespace
// without the gvisor RuntimeClass, even from the cluster's administrator.
func refusedPod(t *testing.T, ctx context.Context) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "by-hand", Namespace: s.judgeNS},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: os.Getenv("CODEQUEST_JUDGE_IMAGE"),
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}}}}},
	}
	err := s.kube.Create(ctx, pod)
	if err == nil {
		_ = s.kube.Delete(ctx, pod)
		t.Fatal("a judge pod without runtimeClassName was admitted")
	}
	if !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) {
		t.Fatalf("refused with %v, want the admission policy's refusal", err)
	}
	t.Logf("refused: %v", err)
}

// deletedPod: a judge pod deleted while it runs (a node drain, an
// operator's mistake) does not fail the Submission: the Job judges it again
// in a new pod and the verdict still arrives.
func deletedPod(t *testing.T, ctx context.Context) {
	res, err := learner.Submissions.Submit(ctx, connect.NewRequest(&codequestv1.SubmitRequest{
		ProblemId: sumbig.GetId(), Language: "python3", Source: fixture(t, "slow_sum.py")}))
	if err != nil {
		t.Fatal(err)
	}
	id := res.Msg.GetSubmission().GetId()
	// Wait until the judge runs tests, then delete its pod.
	var victim corev1.Pod
	for victim.Name == "" {
		var sub v1alpha1.Submission
		if err := s.kube.Get(ctx, types.NamespacedName{Namespace: s.judgeNS, Name: id}, &sub); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		if sub.Status.Phase == v1alpha1.PhaseRunning && sub.Status.CurrentTest >= 2 {
			pods := judgePodsOf(t, ctx, id)
			for _, p := range pods {
				if p.Status.Phase == corev1.PodRunning {
					victim = p
				}
			}
		}
		if sub.Status.Phase.Finished() {
			t.Fatalf("finished before its pod could be deleted: %s", sub.Status.Verdict)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := s.kube.Delete(ctx, &victim); err != nil {
		t.Fatal(err)
	}
	t.Logf("deleted %s while it ran test %d", victim.Name, 2)
	last, _ := watch(t, ctx, id)
	if last.GetVerdict() != ac {
		t.Fatalf("verdict %v (%s) after the pod was deleted, want ACCEPTED", last.GetVerdict(), last.GetMessage())
	}
	var job batchv1.Job
	var sub v1alpha1.Submission
	if err := s.kube.Get(ctx, types.NamespacedName{Namespace: s.judgeNS, Name: id}, &sub); err != nil {
		t.Fatal(err)
	}
	if sub.Status.JobRef == nil {
		t.Fatal("no jobRef")
	}
	if err := s.kube.Get(ctx, types.NamespacedName{Namespace: s.judgeNS, Name: sub.Status.JobRef.Name}, &job); err == nil {
		t.Logf("Job %s: %d succeeded, %d failed (the deleted pod is ignored by the pod failure policy)", job.Name, job.Status.Succeeded, job.Status.Failed)
	}
}

func judgePodsOf(t *testing.T, ctx context.Context, id string) []corev1.Pod {
	t.Helper()
	var pods corev1.PodList
	if err := s.kube.List(ctx, &pods, client.InNamespace(s.judgeNS), client.MatchingLabels{v1alpha1.SubmissionLabel: id}); err != nil {
		t.Fatal(err)
	}
	return pods.Items
}

// fullQuota: with the judge namespace's Job quota used up, Submissions
// wait Queued (with the reason) and finish once there is room again.
func fullQuota(t *testing.T, ctx context.Context) {
	var rq corev1.ResourceQuota
	key := types.NamespacedName{Namespace: s.judgeNS, Name: "judge"}
	if err := s.kube.Get(ctx, key, &rq); err != nil {
		t.Fatal(err)
	}
	orig := rq.Spec.Hard[corev1.ResourceName("count/jobs.batch")]
	setJobs := func(n string) {
		t.Helper()
		patch := fmt.Sprintf(`{"spec":{"hard":{"count/jobs.batch":%q}}}`, n)
		if err := s.kube.Patch(ctx, &rq, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
			t.Fatal(err)
		}
	}
	// Finished Jobs count until the controller deletes them: the quota is
	// set to what exists now, so no new Job fits.
	var jobs batchv1.JobList
	if err := s.kube.List(ctx, &jobs, client.InNamespace(s.judgeNS)); err != nil {
		t.Fatal(err)
	}
	setJobs(fmt.Sprint(len(jobs.Items)))
	restored := false
	restore := func() {
		if !restored {
			restored = true
			setJobs(orig.String())
		}
	}
	defer restore()

	var ids []string
	// Two: a user's third judging would wait for the fair queue
	// (--judgings-per-user 2), not for the quota.
	for i := range 2 {
		res, err := learner.Submissions.Submit(ctx, connect.NewRequest(&codequestv1.SubmitRequest{
			ProblemId: sumbig.GetId(), Language: "python3", Source: corpusFile(t, "sumbig/submissions/accepted/sum.py") + fmt.Sprintf("# quota %d\n", i)}))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.Msg.GetSubmission().GetId())
	}
	// Each waits Queued for the quota, and the API says so.
	deadline := time.Now().Add(time.Minute)
	for _, id := range ids {
		for {
			var sub v1alpha1.Submission
			if err := s.kube.Get(ctx, types.NamespacedName{Namespace: s.judgeNS, Name: id}, &sub); err == nil &&
				sub.Status.Phase == v1alpha1.PhaseQueued && strings.Contains(sub.Status.Message, "quota") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never waited Queued for the quota", id)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	t.Logf("2 Submissions Queued for the quota:\n%s", kubectl(t, "get", "submissions", "-n", s.judgeNS, "--sort-by=.metadata.creationTimestamp"))
	time.Sleep(3 * time.Second)
	for _, id := range ids {
		got, err := learner.Submissions.GetSubmission(ctx, connect.NewRequest(&codequestv1.GetSubmissionRequest{SubmissionId: id}))
		if err != nil {
			t.Fatal(err)
		}
		if p := got.Msg.GetSubmission().GetPhase(); p != codequestv1.SubmissionPhase_SUBMISSION_PHASE_QUEUED {
			t.Errorf("%s: phase %v while the quota is full, want QUEUED", id, p)
		}
	}
	restore()
	for _, id := range ids {
		last, _ := watch(t, ctx, id)
		if last.GetVerdict() != ac {
			t.Errorf("%s: %v (%s) after the quota had room, want ACCEPTED", id, last.GetVerdict(), last.GetMessage())
		}
	}
}

// controllerRestart: the controller's pod is deleted while a batch is being
// judged; its replacement finishes the batch with one Job per Submission,
// every verdict arrives once and no XP is awarded twice.
func controllerRestart(t *testing.T, ctx context.Context) {
	var ids []string
	for i := range 6 {
		res, err := learner.Submissions.Submit(ctx, connect.NewRequest(&codequestv1.SubmitRequest{
			ProblemId: sumbig.GetId(), Language: "python3", Source: corpusFile(t, "sumbig/submissions/accepted/sum.py") + fmt.Sprintf("# batch %d\n", i)}))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.Msg.GetSubmission().GetId())
	}
	// Wait until the batch is under way, then take the controller away.
	for {
		var subs v1alpha1.SubmissionList
		if err := s.kube.List(ctx, &subs, client.InNamespace(s.judgeNS)); err != nil {
			t.Fatal(err)
		}
		started := 0
		for _, sub := range subs.Items {
			if slices.Contains(ids, sub.Name) && sub.Status.JobRef != nil {
				started++
			}
		}
		if started > 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var pods corev1.PodList
	if err := s.kube.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabels{"app.kubernetes.io/component": "controller"}); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) == 0 {
		t.Fatal("no controller pod")
	}
	for i := range pods.Items {
		if err := s.kube.Delete(ctx, &pods.Items[i], client.GracePeriodSeconds(0)); err != nil {
			t.Fatal(err)
		}
		t.Logf("deleted controller pod %s mid-batch", pods.Items[i].Name)
	}
	for _, id := range ids {
		last, _ := watch(t, ctx, id)
		if last.GetVerdict() != ac {
			t.Errorf("%s: %v (%s), want ACCEPTED", id, last.GetVerdict(), last.GetMessage())
		}
	}
	// One Job per Submission: the new controller adopted what the old one
	// started instead of starting it again.
	for _, id := range ids {
		var jobs batchv1.JobList
		if err := s.kube.List(ctx, &jobs, client.InNamespace(s.judgeNS), client.MatchingLabels{v1alpha1.SubmissionLabel: id}); err != nil {
			t.Fatal(err)
		}
		if len(jobs.Items) > 1 {
			t.Errorf("%s has %d Jobs", id, len(jobs.Items))
		}
	}
	me, err := learner.Users.GetMe(ctx, connect.NewRequest(&codequestv1.GetMeRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if got := me.Msg.GetUser().GetXp(); got != xp {
		t.Errorf("XP %d after more accepted submissions of a solved problem, want %d (awarded once)", got, xp)
	}
}
