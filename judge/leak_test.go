package judge

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// secretProblem is a one-test problem whose input and answer hold a
// token that must never reach a verdict's message.
func secretProblem(t *testing.T) *Problem {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"problem.yaml":          "name: Secret\nlimits:\n  time_limit: 2\n  memory: 256\n",
		"data/secret/01.in":     "SECRETINPUT-4c1d\n",
		"data/secret/01.ans":    "SECRETANSWER-9e2b\n",
		"data/sample/01.in":     "sample\n",
		"data/sample/01.ans":    "sample\n",
		"submissions/.keep.txt": "",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := ReadProblem(dir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMessagesHoldNoTestData: a program that echoes its input on stderr
// and fails, or prints it as its answer, finds neither the input nor the
// answer in its verdict's message or in the compact result that travels to
// the API; the editors' detail has them.
func TestMessagesHoldNoTestData(t *testing.T) {
	j, _ := newTestJudge(t)
	py, _ := LanguageByID(j.Languages(), "python3")
	p := secretProblem(t)
	for _, tc := range []struct {
		name, src string
		verdict   Verdict
		detail    string
	}{
		{"stderr and exit", "for l in [s]: print(l, file=sys.stderr)\nsys.exit(1)\n", RuntimeError, "SECRETINPUT"},
		{"killed", "import os,signal\nprint(s, file=sys.stderr)\nos.kill(os.getpid(), signal.SIGSEGV)\n", RuntimeError, "SECRETINPUT"},
		{"wrong answer", "print(s + ' x')\n", WrongAnswer, "SECRETANSWER"},
		{"out of memory text", "print('MemoryError', s, file=sys.stderr)\nsys.exit(1)\n", MemoryLimitExceeded, "SECRETINPUT"},
	} {
		// The sample passes; the secret test meets the hostile part.
		tc.src = "import sys\ns = sys.stdin.read()\nif s.startswith('sample'):\n    print('sample')\n    sys.exit(0)\n" + tc.src
		t.Run(tc.name, func(t *testing.T) {
			res, err := j.Judge(context.Background(), p, py, []byte(tc.src), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != tc.verdict {
				t.Fatalf("verdict %s (%s), want %s", res.Verdict, res.Message, tc.verdict)
			}
			compact, err := res.MarshalCompact(4000)
			if err != nil {
				t.Fatal(err)
			}
			var messages []string
			for _, tr := range res.Tests {
				messages = append(messages, tr.Message)
			}
			for _, s := range append(messages, res.Message, string(compact)) {
				if strings.Contains(s, "SECRET") {
					t.Errorf("test data in a message: %q", s)
				}
			}
			last := res.Tests[len(res.Tests)-1]
			if !strings.Contains(last.Detail, tc.detail) {
				t.Errorf("detail %q, want the editors to see %s", last.Detail, tc.detail)
			}
		})
	}
}

// TestCompileOutputBounded: a few hundred bytes of source that compile to
// a 100 MiB executable (an initialised array) are a compilation error, and
// leave nothing of that size in the cache.
func TestCompileOutputBounded(t *testing.T) {
	j, sb := newTestJudge(t)
	cache := t.TempDir()
	small, err := New(Config{Sandbox: sb, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	p := secretProblem(t)
	for lang, src := range map[string]string{
		"cpp": "#include <cstdio>\nint big[25 << 20] = {1};\nint main() { printf(\"%d\\n\", big[0]); }\n",
		"go":  "package main\n\nimport \"fmt\"\n\nvar big = [25 << 20]int32{1}\n\nfunc main() { fmt.Println(big[0]) }\n",
	} {
		l, _ := LanguageByID(j.Languages(), lang)
		res, err := small.Judge(context.Background(), p, l, []byte(src), Options{})
		if err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
		if res.Verdict != CompilationError {
			t.Errorf("%s: %s, want COMPILATION_ERROR (output too large)", lang, res.Verdict)
		}
		t.Logf("%s: %s", lang, clip(res.CompileOutput, 300))
	}
	var biggest int64
	// (The C++ precompiled header, ~100 MiB, is the judge's own.)
	for _, d := range []string{"artifacts", "gocache", "tmp"} {
		filepath.Walk(filepath.Join(cache, d), func(_ string, fi os.FileInfo, err error) error {
			if err == nil && fi.Size() > biggest {
				biggest = fi.Size()
			}
			return nil
		})
	}
	if biggest > small.cfg.CompileOutput {
		t.Errorf("a %d-byte file in the cache, over the %d-byte compile output limit", biggest, small.cfg.CompileOutput)
	}
}

// TestArtifactCacheBounded: compiled programs past the cache's limit are
// evicted, least recently used first, and never one in use.
func TestArtifactCacheBounded(t *testing.T) {
	_, sb := newTestJudge(t)
	j, err := New(Config{Sandbox: sb, CacheDir: t.TempDir(), CacheLimit: 50 << 10})
	if err != nil {
		t.Fatal(err)
	}
	j.cache.recent = 0
	cpp, _ := LanguageByID(j.Languages(), "cpp")
	var keys []string
	for i := range 8 {
		src := "#include <cstdio>\nint main() { puts(\"" + strings.Repeat("x", i) + "\"); }\n"
		c, err := j.compile(context.Background(), cpp, []byte(src), nil)
		if err != nil || !c.OK {
			t.Fatalf("compile %d: %v %+v", i, err, c)
		}
		keys = append(keys, c.key)
		if i != 7 {
			j.cache.release(c.key)
		}
		time.Sleep(10 * time.Millisecond) // distinct use times
	}
	size, _ := treeBytes(j.cache.dir)
	if size > j.cfg.CacheLimit {
		t.Errorf("cache holds %d bytes, limit %d", size, j.cfg.CacheLimit)
	}
	if _, err := os.Stat(filepath.Join(j.cache.dir, keys[7], resultFile)); err != nil {
		t.Errorf("the entry in use was evicted: %v", err)
	}
	if _, err := os.Stat(filepath.Join(j.cache.dir, keys[0], resultFile)); err == nil {
		t.Errorf("the least recently used entry is still there")
	}
	b, _ := json.Marshal(j.cache.inUse)
	t.Logf("in use: %s, %d bytes", b, size)
}
