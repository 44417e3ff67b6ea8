//go:build cluster

package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/apiserver/apitest"
)

// benchProblem imports sumbig without its labelled submissions (nothing to
// verify first) and returns it with a signed-in instructor.
func benchProblem(b *testing.B, ctx context.Context) *codequestv1.Problem {
	b.Helper()
	anon := clients()
	login, err := anon.Auth.Login(ctx, connect.NewRequest(&codequestv1.LoginRequest{Email: adminEmail, Password: adminPassword}))
	if err != nil {
		b.Fatal(err)
	}
	admin := clients(apitest.Bearer(login.Msg.GetTokens().GetAccessToken()))
	dir := filepath.Join(b.TempDir(), "sumbig")
	for _, f := range []string{"problem.yaml", "data/sample/01.in", "data/sample/01.ans"} {
		copyInto(b, filepath.Join(s.corpus, "sumbig", f), filepath.Join(dir, f))
	}
	secret, _ := filepath.Glob(filepath.Join(s.corpus, "sumbig", "data", "secret", "*"))
	for _, f := range secret {
		copyInto(b, f, filepath.Join(dir, "data", "secret", filepath.Base(f)))
	}
	slug := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	created, err := admin.Problems.CreateProblem(ctx, connect.NewRequest(&codequestv1.CreateProblemRequest{
		Slug: slug, Title: "Big Sum (bench)", Difficulty: codequestv1.Difficulty_DIFFICULTY_EASY}))
	if err != nil {
		b.Fatal(err)
	}
	p, err := apitest.ImportPackage(ctx, admin, created.Msg.GetProblem().GetId(), apitest.ZipDir(b, dir, "", nil))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := admin.Problems.PublishProblem(ctx, connect.NewRequest(&codequestv1.PublishProblemRequest{ProblemId: p.GetId()})); err != nil {
		b.Fatal(err)
	}
	return p
}

func copyInto(b *testing.B, src, dst string) {
	b.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSubmitToVerdict: Submit → final verdict on WatchSubmission for
// an accepted Python program, each judged in its own gVisor pod, one at a
// time. image=cold drops the node's page cache before each submission, so
// the pod reads the judge image (and the toolchain) from disk; image=warm
// does not.
func BenchmarkSubmitToVerdict(b *testing.B) {
	ctx := context.Background()
	p := benchProblem(b, ctx)
	src, err := os.ReadFile(filepath.Join(s.corpus, "sumbig", "submissions", "accepted", "sum.py"))
	if err != nil {
		b.Fatal(err)
	}
	for _, image := range []string{"cold", "warm"} {
		b.Run("image="+image, func(b *testing.B) {
			var lat []time.Duration
			var learner apitest.Clients
			for i := range b.N {
				// Submit allows 10 a minute per account: a new learner
				// every 9.
				if i%9 == 0 {
					learner = clients(apitest.Bearer(signUp(b, ctx, "bench").GetTokens().GetAccessToken()))
				}
				if image == "cold" {
					if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0); err != nil {
						b.Fatalf("drop the page cache (needs root): %v", err)
					}
				}
				start := time.Now()
				res, err := learner.Submissions.Submit(ctx, connect.NewRequest(&codequestv1.SubmitRequest{
					ProblemId: p.GetId(), Language: "python3", Source: string(src) + fmt.Sprintf("# %s %d\n", image, i)}))
				if err != nil {
					b.Fatal(err)
				}
				msgs, err := apitest.Watch(ctx, learner, res.Msg.GetSubmission().GetId())
				if err != nil {
					b.Fatal(err)
				}
				last := msgs[len(msgs)-1].GetSubmission()
				lat = append(lat, time.Since(start))
				if last.GetVerdict() != codequestv1.Verdict_VERDICT_ACCEPTED {
					b.Fatalf("verdict %v: %s", last.GetVerdict(), last.GetMessage())
				}
			}
			b.ReportMetric(float64(apitest.Percentile(lat, 0.5).Milliseconds()), "p50-ms")
			b.ReportMetric(float64(apitest.Percentile(lat, 0.99).Milliseconds()), "p99-ms")
		})
	}
}

// BenchmarkPodStarts: 10 pods of the judge image (running `judge
// languages`, which exits at once) created at once in a scratch namespace,
// under gVisor and under runc; pods/s is how many started per second until
// the last one had.
func BenchmarkPodStarts(b *testing.B) {
	ctx := context.Background()
	const n = 10
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "codequest-bench-"}}
	if err := s.kube.Create(ctx, ns); err != nil {
		b.Fatal(err)
	}
	defer s.kube.Delete(ctx, ns)
	for _, rc := range []string{"gvisor", "runc"} {
		b.Run("runtime="+rc, func(b *testing.B) {
			var rates []float64
			for i := range b.N {
				start := time.Now()
				for k := range n {
					pod := &corev1.Pod{
						ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d-%d", rc, i, k), Namespace: ns.Name,
							Labels: map[string]string{"bench": fmt.Sprintf("%s-%d", rc, i)}},
						Spec: corev1.PodSpec{
							RestartPolicy: corev1.RestartPolicyNever,
							Containers: []corev1.Container{{Name: "judge", Image: os.Getenv("CODEQUEST_JUDGE_IMAGE"),
								ImagePullPolicy: corev1.PullIfNotPresent, Args: []string{"languages"},
								Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
									corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")}}}},
							TerminationGracePeriodSeconds: ptr.To[int64](0),
						},
					}
					if rc == "gvisor" {
						pod.Spec.RuntimeClassName = ptr.To("gvisor")
					}
					if err := s.kube.Create(ctx, pod); err != nil {
						b.Fatal(err)
					}
				}
				var took time.Duration
				for {
					var pods corev1.PodList
					if err := s.kube.List(ctx, &pods, client.InNamespace(ns.Name), client.MatchingLabels{"bench": fmt.Sprintf("%s-%d", rc, i)}); err != nil {
						b.Fatal(err)
					}
					started := 0
					for _, p := range pods.Items {
						for _, c := range p.Status.ContainerStatuses {
							if c.State.Running != nil || c.State.Terminated != nil {
								started++
							}
						}
						if p.Status.Phase == corev1.PodFailed {
							b.Fatalf("pod %s failed: %+v", p.Name, p.Status)
						}
					}
					if started == n {
						took = time.Since(start)
						break
					}
					if time.Since(start) > 5*time.Minute {
						b.Fatalf("%d of %d pods started in 5 minutes", started, n)
					}
					time.Sleep(50 * time.Millisecond)
				}
				rates = append(rates, float64(n)/took.Seconds())
				if err := s.kube.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(ns.Name), client.GracePeriodSeconds(0)); err != nil {
					b.Fatal(err)
				}
			}
			slices.Sort(rates)
			b.ReportMetric(rates[len(rates)/2], "pods/s")
		})
	}
}
