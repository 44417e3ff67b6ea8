package judge

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codequest-dev/codequest/sandbox"
)

// scriptedRunner stands in for the sandbox to test how CPU times decide
// verdicts: a program's source is "# cpu A B C ..." (milliseconds of its
// successive runs) and it echoes its input; the empty program (the
// start-up measure) takes empty; compiles succeed.
type scriptedRunner struct {
	empty time.Duration
	mu    sync.Mutex
	runs  map[string]int
}

func (r *scriptedRunner) Run(_ context.Context, spec sandbox.Spec) (*sandbox.Result, error) {
	if len(spec.Binds) == 0 || spec.Stdin == nil && spec.UID != 0 {
		return &sandbox.Result{}, nil // a compile
	}
	src, err := os.ReadFile(filepath.Join(spec.Binds[0].Source, "main.py"))
	if err != nil {
		return nil, err
	}
	cpu := r.empty
	if f := strings.Fields(string(src)); len(f) > 2 && f[1] == "cpu" {
		r.mu.Lock()
		n := r.runs[string(src)]
		r.runs[string(src)]++
		r.mu.Unlock()
		ms, _ := strconv.Atoi(f[2+min(n, len(f)-3)])
		cpu = time.Duration(ms) * time.Millisecond
	}
	res := &sandbox.Result{CPUTime: cpu, WallTime: cpu}
	if cpu > spec.Limits.CPUTime {
		res.CPUTime, res.CPUExceeded = spec.Limits.CPUTime, true
		return res, nil
	}
	if spec.Stdin != nil {
		res.Stdout, _ = io.ReadAll(spec.Stdin)
	}
	return res, nil
}

func (r *scriptedRunner) CompileUID() int                       { return 1 }
func (r *scriptedRunner) Layers() sandbox.Layers                { return sandbox.Layers{} }
func (r *scriptedRunner) NewNetwork() (*sandbox.Network, error) { return nil, nil }

// TestTimeUnderLoad: a run over its limit by less than the margin runs
// again and its best run counts; one over by more, or stopped at its
// threshold, is TLE at once; the language's measured start-up allowance is
// taken off before the verdict.
func TestTimeUnderLoad(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cpu     string
		empty   time.Duration
		verdict Verdict
		reruns  int
		startup int64
	}{
		{"quiet", "400", 0, Accepted, 0, 0},
		{"one burst", "1200 900", 0, Accepted, 1, 0},
		{"two bursts", "1300 1400 800", 0, Accepted, 2, 0},
		{"always over", "1200 1300 1250", 0, TimeLimitExceeded, 2, 0},
		{"far over", "1600", 0, TimeLimitExceeded, 0, 0},
		{"stopped", "99999", 0, TimeLimitExceeded, 0, 0},
		{"start-up", "1250", 300 * time.Millisecond, Accepted, 0, 300},
		{"start-up not enough", "1400 1350 1320", 300 * time.Millisecond, TimeLimitExceeded, 2, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j, err := New(Config{Sandbox: &scriptedRunner{empty: tc.empty, runs: map[string]int{}}, CacheDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			p := echoProblem(t)
			py, _ := LanguageByID(j.Languages(), "python3")
			res, err := j.Judge(context.Background(), p, py, []byte("# cpu "+tc.cpu+"\n"), Options{})
			if err != nil {
				t.Fatal(err)
			}
			var reruns int
			var startup int64
			for _, tr := range res.Tests {
				reruns += tr.Reruns
				startup = max(startup, tr.StartupMillis)
			}
			if res.Verdict != tc.verdict || reruns != tc.reruns || startup != tc.startup {
				t.Errorf("%s (%s) with %d re-runs, start-up %d ms; want %s with %d, %d ms", res.Verdict, res.Message, reruns, startup, tc.verdict, tc.reruns, tc.startup)
			}
		})
	}
}

// echoProblem is a one-test problem whose answer is its input, with a
// one-second time limit.
func echoProblem(t *testing.T) *Problem {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"problem.yaml":      "name: Echo\nlimits:\n  time_limit: 1\n  memory: 256\n",
		"data/secret/01.in": "42\n", "data/secret/01.ans": "42\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := ReadProblem(dir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
