package judge

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"syscall"
	"testing"
)

// busyLoopsPerCore is how many busy loops per CPU the contention tests
// keep running: the load of a node whose neighbours are all busy.
const busyLoopsPerCore = 4

// busyLoops keeps every CPU loaded with busyLoopsPerCore busy loops each,
// every loop in a session of its own (so its own scheduler autogroup: the
// hardest neighbours for a run to share a core with), until the test ends.
func busyLoops(t *testing.T) {
	t.Helper()
	n := busyLoopsPerCore * runtime.NumCPU()
	var cmds []*exec.Cmd
	for range n {
		c := exec.Command("/bin/sh", "-c", "while :; do :; done")
		c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
		if err := c.Start(); err != nil {
			t.Fatalf("start a busy loop: %v", err)
		}
		cmds = append(cmds, c)
	}
	t.Cleanup(func() {
		for _, c := range cmds {
			c.Process.Kill()
			c.Wait()
		}
	})
	t.Logf("%d busy loops on %d CPUs", n, runtime.NumCPU())
}

// contentionRounds is how many times the contention tests judge the
// corpus: CODEQUEST_CONTENTION_ROUNDS, default 1 (the check runs
// five in a row).
func contentionRounds(t *testing.T) int {
	if v := os.Getenv("CODEQUEST_CONTENTION_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("CODEQUEST_CONTENTION_ROUNDS=%q: want a positive number", v)
		}
		return n
	}
	return 1
}

// corpusProblems lists the corpus's problem folders.
func corpusProblems(t *testing.T, corpus string) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(corpus, "*", "problem.yaml"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no problems in %s: %v", corpus, err)
	}
	for i := range dirs {
		dirs[i] = filepath.Dir(dirs[i])
	}
	sort.Strings(dirs)
	return dirs
}

// TestContention judges every labelled submission of the corpus directly
// (this host's sandbox, the local executor's parallelism) while busy loops
// keep every CPU loaded: every verdict is the label's, the slow solutions
// still TLE. (TestGVisor does the same inside gVisor.)
func TestContention(t *testing.T) {
	corpus := corpusDir(t)
	j, sb := newTestJudge(t)
	par, err := New(Config{Sandbox: sb, CacheDir: j.cfg.CacheDir, Parallel: DefaultParallel()})
	if err != nil {
		t.Fatal(err)
	}
	busyLoops(t)
	for round := 1; round <= contentionRounds(t); round++ {
		reruns := 0
		for _, dir := range corpusProblems(t, corpus) {
			entries, err := par.Verify(context.Background(), dir, nil)
			if err != nil {
				t.Fatalf("round %d: verify %s: %v", round, filepath.Base(dir), err)
			}
			for _, e := range entries {
				reruns += e.Reruns
				if !e.Match {
					t.Errorf("round %d: %s %s: got %s, want %s (%s)", round, e.Problem, e.Submission, e.Got, e.Expected, e.Message)
				}
			}
		}
		t.Logf("round %d: every verdict as labelled; %d re-runs; start-up allowances %v", round, reruns, par.Startup())
	}
}

// warmDir returns a warm folder (Judge.Warm) for this machine's
// toolchains, made once into the tool cache.
func warmDir(t *testing.T) string {
	t.Helper()
	j, sb := newTestJudge(t)
	var key []byte
	for _, id := range []string{"cpp", "go"} {
		l, _ := LanguageByID(j.Languages(), id)
		v, err := j.Version(context.Background(), l)
		if err != nil {
			t.Fatal(err)
		}
		key = append(key, v...)
	}
	for _, f := range []string{"language.go", "warm.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		key = append(key, b...)
	}
	dir := filepath.Join(filepath.Dir(j.cfg.CacheDir), "judge-warm", fmt.Sprintf("%x", sha256.Sum256(key))[:12])
	if _, err := os.Stat(dir); err == nil {
		return dir
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "building-")
	if err == nil {
		defer os.RemoveAll(tmp)
		var w *Judge
		if w, err = New(Config{Sandbox: sb, CacheDir: tmp}); err == nil {
			if err = w.Warm(context.Background()); err == nil {
				err = os.Rename(tmp, dir)
			}
		}
	}
	if err != nil && !errors.Is(err, os.ErrExist) {
		if _, statErr := os.Stat(dir); statErr != nil {
			t.Fatalf("make a warm folder: %v", err)
		}
	}
	return dir
}
