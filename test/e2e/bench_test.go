package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/go-redis/redis_rate/v10"
	"github.com/google/uuid"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/apiserver"
	"github.com/codequest-dev/codequest/apiserver/apitest"
	"github.com/codequest-dev/codequest/apiserver/auth"
	"github.com/codequest-dev/codequest/apiserver/store"
	"github.com/codequest-dev/codequest/apiserver/submissions"
)

// twentyTests writes the double problem with 20 secret tests.
func twentyTests(b *testing.B) string {
	dir := filepath.Join(b.TempDir(), "double20")
	for _, d := range []string{"data/sample", "data/secret"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	write("problem.yaml", "name: Double\nlimits:\n  time_limit: 1.0\n  memory: 256\n  output: 4\n")
	write("data/sample/01.in", "21\n")
	write("data/sample/01.ans", "42\n")
	for i := 1; i < 20; i++ {
		write(fmt.Sprintf("data/secret/%02d.in", i), fmt.Sprintf("%d\n", i*1000003))
		write(fmt.Sprintf("data/secret/%02d.ans", i), fmt.Sprintf("%d\n", 2*i*1000003))
	}
	return dir
}

var sources = map[string]string{
	"python3": "print(2 * int(input()))\n",
	"cpp":     "#include <bits/stdc++.h>\nint main() { long long n; std::cin >> n; std::cout << 2 * n << \"\\n\"; }\n",
}

// BenchmarkSubmitToVerdict: Submit → final verdict on WatchSubmission, on
// one machine (API server, controllers, local executor, sandbox), for a
// 20-test problem; each source differs by a comment, so every submission
// compiles. Next to it, the bare compile and 20 runs of the same code.
func BenchmarkSubmitToVerdict(b *testing.B) {
	// Benchmarks submit faster than a person may.
	p := start(b, func(c *apiserver.Config) { c.Submissions.SubmitLimit = redis_rate.PerSecond(1000) })
	ctx := context.Background()
	teacher := p.api.NewUser(b, auth.RoleInstructor)
	tc := p.api.Clients(teacher.Auth())
	created, err := tc.Problems.CreateProblem(ctx, connect.NewRequest(&codequestv1.CreateProblemRequest{
		Slug: "double-20", Title: "Double", Difficulty: codequestv1.Difficulty_DIFFICULTY_EASY}))
	if err != nil {
		b.Fatal(err)
	}
	prob, err := apitest.ImportPackage(ctx, tc, created.Msg.GetProblem().GetId(), apitest.ZipDir(b, twentyTests(b), "", nil))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := tc.Problems.PublishProblem(ctx, connect.NewRequest(&codequestv1.PublishProblemRequest{ProblemId: prob.GetId()})); err != nil {
		b.Fatal(err)
	}
	learner := p.api.NewUser(b, auth.RoleLearner)
	lc := p.api.Clients(learner.Auth())
	for _, lang := range []string{"python3", "cpp"} {
		b.Run("lang="+lang+"/path=codequest", func(b *testing.B) {
			var lat []time.Duration
			for i := range b.N {
				src := sources[lang]
				if lang == "cpp" {
					src += fmt.Sprintf("// %d %s\n", i, uuid.NewString())
				} else {
					src += fmt.Sprintf("# %d %s\n", i, uuid.NewString())
				}
				start := time.Now()
				res, err := lc.Submissions.Submit(ctx, connect.NewRequest(&codequestv1.SubmitRequest{ProblemId: prob.GetId(), Language: lang, Source: src}))
				if err != nil {
					b.Fatal(err)
				}
				msgs, err := apitest.Watch(ctx, lc, res.Msg.GetSubmission().GetId())
				if err != nil {
					b.Fatal(err)
				}
				last := msgs[len(msgs)-1].GetSubmission()
				lat = append(lat, time.Since(start))
				if last.GetVerdict() != codequestv1.Verdict_VERDICT_ACCEPTED {
					b.Fatalf("verdict %v", last)
				}
			}
			b.ReportMetric(float64(apitest.Percentile(lat, 0.5).Milliseconds()), "p50-ms")
			b.ReportMetric(float64(apitest.Percentile(lat, 0.99).Milliseconds()), "p99-ms")
			b.ReportMetric(float64(slices.Max(lat).Milliseconds()), "max-ms")
		})
		b.Run("lang="+lang+"/path=bare", func(b *testing.B) {
			dir := b.TempDir()
			tests := twentyTests(b)
			var lat []time.Duration
			for i := range b.N {
				start := time.Now()
				run := []string{"/usr/bin/python3", filepath.Join(dir, "main.py")}
				if lang == "cpp" {
					src := filepath.Join(dir, "main.cpp")
					if err := os.WriteFile(src, []byte(sources[lang]+fmt.Sprintf("// %d\n", i)), 0o644); err != nil {
						b.Fatal(err)
					}
					if out, err := exec.Command("g++", "-std=gnu++17", "-O2", "-o", filepath.Join(dir, "main"), src).CombinedOutput(); err != nil {
						b.Fatalf("g++: %v %s", err, out)
					}
					run = []string{filepath.Join(dir, "main")}
				} else {
					if err := os.WriteFile(run[1], []byte(sources[lang]), 0o644); err != nil {
						b.Fatal(err)
					}
					if out, err := exec.Command("/usr/bin/python3", "-m", "py_compile", run[1]).CombinedOutput(); err != nil {
						b.Fatalf("py_compile: %v %s", err, out)
					}
				}
				ins, _ := filepath.Glob(filepath.Join(tests, "data", "*", "*.in"))
				for _, in := range ins {
					f, err := os.Open(in)
					if err != nil {
						b.Fatal(err)
					}
					cmd := exec.Command(run[0], run[1:]...)
					cmd.Stdin = f
					if _, err := cmd.Output(); err != nil {
						b.Fatal(err)
					}
					f.Close()
				}
				lat = append(lat, time.Since(start))
			}
			b.ReportMetric(float64(apitest.Percentile(lat, 0.5).Milliseconds()), "p50-ms")
			b.ReportMetric(float64(apitest.Percentile(lat, 0.99).Milliseconds()), "p99-ms")
			b.ReportMetric(float64(slices.Max(lat).Milliseconds()), "max-ms")
		})
	}
}

// BenchmarkFanout: 1,000 WatchSubmission streams on one submission, half
// on each of two API server replicas; one verdict is applied, and the time
// until each stream has it is measured.
func BenchmarkFanout(b *testing.B) {
	api := apitest.New(b)
	replica := api.Replica(b)
	ctx := context.Background()
	u := api.NewUser(b, auth.RoleLearner)
	author := api.NewUser(b, auth.RoleInstructor)
	key, sum, size := "k", strings.Repeat("0", 64), int64(1)
	pr, err := api.Store.CreateProblem(ctx, store.CreateProblemParams{Slug: "fanout", Title: "x", Difficulty: "easy", Visibility: "public",
		AuthorID: &author.ID, Tags: []string{}, Topics: []string{}, Hints: []string{}, Languages: []string{}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := api.Store.SetProblemPackage(ctx, store.SetProblemPackageParams{ID: pr.ID, PackageKey: &key, PackageSha256: &sum,
		PackageSize: &size, PackageTests: 1, Validation: "default", TimeLimitMs: 1000, MemoryMib: 64, OutputMib: 1, Samples: []byte("[]")}); err != nil {
		b.Fatal(err)
	}
	const watchers = 1000
	clients := []apitest.Clients{api.Clients(u.Auth(), connect.WithGRPC()), replica.Clients(u.Auth(), connect.WithGRPC())}
	for range b.N {
		s, err := api.Store.CreateSubmission(ctx, store.CreateSubmissionParams{UserID: u.ID, ProblemID: pr.ID, Mode: "submit",
			Language: "python3", Source: "x", TestsTotal: 1})
		if err != nil {
			b.Fatal(err)
		}
		var ready, done sync.WaitGroup
		lat := make([]time.Duration, watchers)
		var sent time.Time
		var mu sync.Mutex
		ready.Add(watchers)
		done.Add(watchers)
		for w := range watchers {
			go func() {
				defer done.Done()
				stream, err := clients[w%2].Submissions.WatchSubmission(ctx, connect.NewRequest(&codequestv1.WatchSubmissionRequest{SubmissionId: s.ID.String()}))
				if err != nil {
					b.Error(err)
					ready.Done()
					return
				}
				first := true
				for stream.Receive() {
					if first {
						first = false
						ready.Done()
						continue
					}
					if stream.Msg().GetSubmission().GetVerdict() != codequestv1.Verdict_VERDICT_UNSPECIFIED {
						mu.Lock()
						lat[w] = time.Since(sent)
						mu.Unlock()
					}
				}
				if first {
					ready.Done()
				}
			}()
		}
		ready.Wait()
		mu.Lock()
		sent = time.Now()
		mu.Unlock()
		if _, err := api.App.Submissions.Apply(ctx, submissions.Update{ID: s.ID, Phase: "completed", Verdict: "ACCEPTED", TestsPassed: 1, TestsTotal: 1}); err != nil {
			b.Fatal(err)
		}
		done.Wait()
		b.ReportMetric(float64(apitest.Percentile(lat, 0.5).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(apitest.Percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(slices.Max(lat).Microseconds())/1000, "max-ms")
	}
}
