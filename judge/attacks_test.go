package judge

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAttacks submits every program of corpus/attacks to sumbig and checks
// the outcome its README allows and that the host is unchanged afterwards.
func TestAttacks(t *testing.T) {
	corpus := corpusDir(t)
	p, err := ReadProblem(filepath.Join(corpus, "sumbig"))
	if err != nil {
		t.Fatal(err)
	}
	j, sb := newTestJudge(t)
	allowed := map[string][]Verdict{
		// MLE too: Python's cyclic collector touches every object, so each
		// child copies its parent's heap once it has the CPU to collect;
		// 128 children of 2-8 MiB pass 256 MiB (measured: 86-1107 MiB
		// under a 2 GiB limit), whichever limit comes first.
		"forkbomb.py":       {TimeLimitExceeded, RuntimeError, MemoryLimitExceeded},
		"threadbomb.java":   {RuntimeError, MemoryLimitExceeded, TimeLimitExceeded},
		"connect_local.py":  {Accepted, RuntimeError},
		"connect_public.go": {Accepted, RuntimeError},
		"read_secrets.cpp":  {Accepted},
		"write_outside.js":  {Accepted, RuntimeError},
		"steal_answers.py":  {Accepted},
		"daemon.py":         {Accepted},
		"killall.cpp":       {Accepted, RuntimeError},
		"flood.go":          {OutputLimitExceeded},
		"sleep_forever.ts":  {TimeLimitExceeded},
		"mmap8g.cpp":        {MemoryLimitExceeded, RuntimeError},
	}
	files, err := filepath.Glob(filepath.Join(corpus, "attacks", "*.*"))
	if err != nil {
		t.Fatal(err)
	}
	// A process outside the sandbox that must survive every attack.
	canary := exec.Command("sleep", "600")
	if err := canary.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { canary.Process.Kill(); canary.Wait() }()
	home, _ := os.UserHomeDir()
	mountsBefore := sandboxMounts(t)

	seen := 0
	for _, f := range files {
		name := filepath.Base(f)
		if name == "README.md" {
			continue
		}
		seen++
		t.Run(name, func(t *testing.T) {
			want, ok := allowed[name]
			if !ok {
				t.Fatalf("attack %s has no expected outcome in this test: add it", name)
			}
			lang, ok := LanguageByExt(j.Languages(), name)
			if !ok {
				t.Fatalf("no language for %s", name)
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			res, err := j.Judge(context.Background(), p, lang, src, Options{})
			if err != nil {
				t.Fatalf("judge: %v", err)
			}
			took := time.Since(start)
			got := res.Verdict
			okVerdict := false
			for _, w := range want {
				okVerdict = okVerdict || got == w
			}
			if !okVerdict {
				t.Errorf("verdict %s (%s), want one of %v", got, res.Message, want)
			}
			if name == "daemon.py" && took > 30*time.Second {
				t.Errorf("daemon.py judged in %s, want promptly", took)
			}
			// No process of any run is left: nothing runs as a sandbox uid.
			if left := sandboxProcesses(t, sb.CompileUID()); len(left) > 0 {
				t.Errorf("processes left after %s: %v", name, left)
			}
			for _, dir := range []string{"/tmp", "/var/tmp", "/etc", home, filepath.Dir(p.Dir), p.Dir} {
				m, _ := filepath.Glob(filepath.Join(dir, "judge-escape-*"))
				if len(m) > 0 {
					t.Errorf("files written outside the sandbox: %v", m)
					for _, x := range m {
						os.Remove(x)
					}
				}
			}
			if _, err := os.Stat("/tmp/judge-daemon-alive"); err == nil {
				t.Errorf("/tmp/judge-daemon-alive exists")
			}
			if err := canary.Process.Signal(syscallZero); err != nil {
				t.Errorf("a host process outside the run died: %v", err)
			}
		})
	}
	if seen == 0 {
		t.Fatal("no attack programs found")
	}
	if after := sandboxMounts(t); after != mountsBefore {
		t.Errorf("mounts of the sandbox left on the host: %d before, %d after", mountsBefore, after)
	}
}

// sandboxProcesses lists processes whose uid is in the sandbox's range.
func sandboxProcesses(t testing.TB, base int) []string {
	t.Helper()
	var out []string
	deadline := time.Now().Add(2 * time.Second)
	for {
		out = out[:0]
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			if _, err := strconv.Atoi(e.Name()); err != nil {
				continue
			}
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
					uid, _ := strconv.Atoi(f[1])
					if uid >= base && uid < base+1000 {
						out = append(out, e.Name()+" uid "+f[1])
					}
				}
			}
		}
		if len(out) == 0 || time.Now().After(deadline) {
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sandboxMounts counts host mounts that belong to a sandbox.
func sandboxMounts(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "codequest-sandbox")
}
