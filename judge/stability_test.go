package judge

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// spinSource spins for ms milliseconds of CPU time, then answers.
func spinSource(ms int) []byte {
	return []byte(fmt.Sprintf(`#include <cstdio>
#include <ctime>
int main() {
	volatile unsigned long x = 0;
	clock_t end = (clock_t)%d * (CLOCKS_PER_SEC / 1000);
	while (clock() < end) x++;
	std::puts("done");
}
`, ms))
}

// TestStability judges a solution at half the time limit and one at twice
// it, 20 times each: the verdicts never change.
func TestStability(t *testing.T) {
	dir, _ := filepath.Abs(filepath.Join("testdata", "problems", "spin"))
	p, err := ReadProblem(dir)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := newTestJudge(t)
	cpp, _ := LanguageByID(j.Languages(), "cpp")
	half := int(p.TimeLimit.Milliseconds() / 2)
	for _, tc := range []struct {
		ms   int
		want Verdict
	}{{half, Accepted}, {4 * half, TimeLimitExceeded}} {
		t.Run(fmt.Sprintf("%dms", tc.ms), func(t *testing.T) {
			src := spinSource(tc.ms)
			for i := 0; i < 20; i++ {
				r, err := j.Judge(context.Background(), p, cpp, src, Options{})
				if err != nil {
					t.Fatal(err)
				}
				if r.Verdict != tc.want {
					t.Fatalf("run %d: %s (%s, %d ms), want %s", i, r.Verdict, r.Message, r.MaxCPUMillis, tc.want)
				}
			}
		})
	}
}

// TestJavaStackOverflowStable judges reverse's recursion.java (a JVM dying
// of StackOverflowError under -Xmx256m -Xss64m) 10 times: always RTE. Its
// memory peaks at 166 MiB or at ~330 MiB from run to run, so a cgroup at
// the bare limit made it MLE now and then.
func TestJavaStackOverflowStable(t *testing.T) {
	corpus := corpusDir(t)
	p, err := ReadProblem(filepath.Join(corpus, "reverse"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(corpus, "reverse", "submissions", "run_time_error", "recursion.java"))
	if err != nil {
		t.Fatal(err)
	}
	j, _ := newTestJudge(t)
	java, _ := LanguageByID(j.Languages(), "java")
	for i := 0; i < 10; i++ {
		r, err := j.Judge(context.Background(), p, java, src, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Verdict != RuntimeError {
			t.Fatalf("run %d: %s (%s, peak %d KiB), want RUNTIME_ERROR", i, r.Verdict, r.Message, r.PeakMemoryKiB)
		}
	}
}
