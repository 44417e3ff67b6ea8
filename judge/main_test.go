package judge

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/codequest-dev/codequest/sandbox"
)

func TestMain(m *testing.M) {
	sandbox.Main()
	os.Exit(m.Run())
}

// corpusDir finds the shared corpus: $CODEQUEST_CORPUS, else
// <repo root>/../shared/corpus. Tests that need it fail when it is absent
// (they never pass without running).
func corpusDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("CODEQUEST_CORPUS")
	if dir == "" {
		out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
		if err != nil {
			t.Fatalf("locate the repository root to find ../shared/corpus (or set CODEQUEST_CORPUS): %v", err)
		}
		dir = filepath.Join(strings.TrimSpace(string(out)), "..", "shared", "corpus")
	}
	if _, err := os.Stat(filepath.Join(dir, "sumbig", "problem.yaml")); err != nil {
		t.Fatalf("corpus not found at %s (set CODEQUEST_CORPUS to the shared corpus folder): %v", dir, err)
	}
	return dir
}

// newTestJudge returns a Judge on a fresh sandbox. Compiled programs are
// cached in the tool cache, as the CLI does.
func newTestJudge(t testing.TB) (*Judge, *sandbox.Sandbox) {
	t.Helper()
	sb, err := sandbox.New(context.Background(), sandbox.Config{})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	t.Cleanup(func() {
		if err := sb.Close(); err != nil {
			t.Errorf("close sandbox: %v", err)
		}
	})
	cache := os.Getenv("CODEQUEST_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "codequest")
	}
	j, err := New(Config{Sandbox: sb, CacheDir: filepath.Join(cache, "judge")})
	if err != nil {
		t.Fatal(err)
	}
	return j, sb
}
