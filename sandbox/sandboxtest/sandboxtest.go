// Package sandboxtest helps tests that judge through the sandbox.
package sandboxtest

import (
	"os"
	"os/exec"
	"path/filepath"

	"github.com/codequest-dev/codequest/sandbox"
)

// TB is what BuildInit needs of a testing.TB (GinkgoT() has it too).
type TB interface {
	Helper()
	TempDir() string
	Fatalf(format string, args ...any)
}

// BuildInit builds cmd/codequest-sandbox-init into a temporary folder and
// returns its path, for sandbox.Config.InitPath: a test binary that links
// the whole platform is too heavy to re-execute as every run's init.
func BuildInit(t TB) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), sandbox.InitName)
	cmd := exec.Command("go", "build", "-o", out, "github.com/codequest-dev/codequest/cmd/codequest-sandbox-init")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", sandbox.InitName, err, b)
	}
	return out
}
