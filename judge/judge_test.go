package judge

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// parallelProblem writes a 12-test problem whose program answers its input
// doubled: "wrong" tests get a wrong answer and "slow" ones input that makes
// the program spin past the time limit.
func parallelProblem(t *testing.T, wrong, slow map[int]bool) *Problem {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "problem.yaml"), []byte("name: Parallel\nlimits:\n  time_limit: 0.5\n  memory: 64\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data", "secret")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 12; i++ {
		in, ans := i, 2*i
		if wrong[i] {
			ans++
		}
		if slow[i] {
			in = -1
		}
		name := filepath.Join(data, fmt.Sprintf("%02d", i))
		if err := os.WriteFile(name+".in", fmt.Appendf(nil, "%d\n", in), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name+".ans", fmt.Appendf(nil, "%d\n", ans), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := ReadProblem(dir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const doubleOrSpin = "n = int(input())\nwhile n < 0:\n    pass\nprint(2 * n)\n"

// TestParallel: tests run four at a time give the verdicts, the test list
// and the progress order of tests run one by one, and a judging that stops
// at its first failure in test order leaves no run behind.
func TestParallel(t *testing.T) {
	j, sb := newTestJudge(t)
	py, _ := LanguageByID(j.Languages(), "python3")
	par, err := New(Config{Sandbox: sb, CacheDir: j.cfg.CacheDir, Parallel: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		wrong, slow map[int]bool
		all         bool
		verdict     Verdict
		tests       int
	}{
		{name: "accepted", verdict: Accepted, tests: 12},
		{name: "first failure in order", wrong: map[int]bool{5: true, 3: true, 9: true}, verdict: WrongAnswer, tests: 3},
		{name: "slow test before a wrong one", wrong: map[int]bool{4: true}, slow: map[int]bool{2: true}, verdict: TimeLimitExceeded, tests: 2},
		{name: "all tests", wrong: map[int]bool{3: true, 11: true}, slow: map[int]bool{7: true}, all: true, verdict: WrongAnswer, tests: 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := parallelProblem(t, tc.wrong, tc.slow)
			var results [2]*Result
			var events [2][]string
			for k, jj := range []*Judge{j, par} {
				res, err := jj.Judge(context.Background(), p, py, []byte(doubleOrSpin), Options{All: tc.all, Progress: func(pr Progress) {
					ev := fmt.Sprintf("%s %d", pr.Phase, pr.Test)
					if pr.Result != nil {
						ev += " " + string(pr.Result.Verdict)
					}
					events[k] = append(events[k], ev)
				}})
				if err != nil {
					t.Fatal(err)
				}
				results[k] = res
			}
			for k, res := range results {
				if res.Verdict != tc.verdict || len(res.Tests) != tc.tests {
					t.Fatalf("parallel=%v: verdict %s after %d tests, want %s after %d (%s)", k == 1, res.Verdict, len(res.Tests), tc.verdict, tc.tests, res.Message)
				}
			}
			seq, parl := results[0], results[1]
			// The message's detail (a measured CPU time) may differ; where
			// and what may not.
			where := func(m string) string { w, _, _ := strings.Cut(m, ":"); return w }
			if where(seq.Message) != where(parl.Message) || seq.Passed != parl.Passed {
				t.Errorf("message/passed: one by one %q %d, parallel %q %d", seq.Message, seq.Passed, parl.Message, parl.Passed)
			}
			for i := range seq.Tests {
				if a, b := seq.Tests[i], parl.Tests[i]; a.Name != b.Name || a.Verdict != b.Verdict {
					t.Errorf("test %d: one by one %s %s, parallel %s %s", i+1, a.Name, a.Verdict, b.Name, b.Verdict)
				}
			}
			if fmt.Sprint(events[0]) != fmt.Sprint(events[1]) {
				t.Errorf("progress differs:\none by one %v\nparallel   %v", events[0], events[1])
			}
		})
	}
}

// TestPythonSyntaxCheck: Python's compile step is a syntax check that
// reports where and what, like py_compile; an error only a run meets is
// not a compile error.
func TestPythonSyntaxCheck(t *testing.T) {
	j, _ := newTestJudge(t)
	py, _ := LanguageByID(j.Languages(), "python3")
	p := parallelProblem(t, nil, nil)
	for _, tc := range []struct {
		src     string
		verdict Verdict
		output  string
	}{
		{"print(2 * int(input())\n", CompilationError, "File \"main.py\", line 1\n    print(2 * int(input())\n         ^\nSyntaxError: '(' was never closed"},
		{"x = 1\n\x00\n", CompilationError, "null bytes"},
		{"import nosuchmodule\n", RuntimeError, ""},
		{doubleOrSpin, Accepted, ""},
	} {
		res, err := j.Judge(context.Background(), p, py, []byte(tc.src), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != tc.verdict || !strings.Contains(res.CompileOutput, tc.output) {
			t.Errorf("%q: %s %q, want %s with %q", tc.src, res.Verdict, res.CompileOutput, tc.verdict, tc.output)
		}
		if strings.Contains(res.CompileOutput, "Traceback") {
			t.Errorf("%q: compile output %q holds the checker's traceback", tc.src, res.CompileOutput)
		}
	}
}
