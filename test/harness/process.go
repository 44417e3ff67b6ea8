package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/codequest-dev/codequest/test/localsvc"
)

// tempDir makes a folder for a server's data under the system's temporary
// folder, named for the service and the binary's process ID, and first
// removes the folders of that service left by binaries that were killed.
func tempDir(name string) (string, error) {
	prefix := "codequest-" + name + "-"
	removeStale(prefix)
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", prefix, os.Getpid()))
	if err != nil {
		return "", fmt.Errorf("make %s folder: %w", name, err)
	}
	return dir, nil
}

// removeStale removes the folders named prefix+PID+"-..." whose process is
// gone. It is best effort: what it cannot remove stays.
func removeStale(prefix string) {
	entries, err := os.ReadDir(os.TempDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.IsDir() {
			continue
		}
		pidStr, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(filepath.Join(os.TempDir(), e.Name()))
		}
	}
}

// toolPath returns the path of a tool that hack/tools.sh builds from the Go
// module proxy, building it first if needed. go test runs in the package's
// folder, inside the repository.
func toolPath(ctx context.Context, name string) (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the repository: %w", err)
	}
	root, err := localsvc.FindRoot(wd)
	if err != nil {
		return "", err
	}
	return localsvc.Tools{Root: root}.Path(ctx, name)
}
