package localsvc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Tools finds the binaries that hack/tools.sh builds from the Go module
// proxy into the cache outside the clone ($CODEQUEST_CACHE, default
// ~/.cache/codequest).
type Tools struct {
	// Root is the repository, which holds hack/tools.sh.
	Root string
	// Progress receives notices about builds and waits; nil is os.Stderr.
	Progress io.Writer
}

// FindRoot returns the repository that holds dir: the nearest folder at or
// above dir with hack/tools.sh.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("find the repository: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "hack", "tools.sh")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find the repository: no hack/tools.sh at or above the working directory")
		}
		dir = parent
	}
}

// Path returns the path of the tool name (as hack/tools.sh lists it),
// building it first if needed. Callers are serialized across processes with
// a lock file in the cache, since parallel go builds of big tools on a small
// machine only slow each other down.
func (t Tools) Path(ctx context.Context, name string) (string, error) {
	progress := t.Progress
	if progress == nil {
		progress = os.Stderr
	}
	cache := os.Getenv("CODEQUEST_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the tool cache: %w", err)
		}
		cache = filepath.Join(home, ".cache", "codequest")
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", fmt.Errorf("make the tool cache: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(cache, ".harness.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("open the tool lock: %w", err)
	}
	defer lock.Close()
	// Say so if another build makes us wait, not for a moment's wait on
	// another quick lookup.
	waiting := time.AfterFunc(2*time.Second, func() {
		fmt.Fprintf(progress, "localsvc: %s waits for another hack/tools.sh build (lock %s)\n", name, lock.Name())
	})
	err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX)
	waiting.Stop()
	if err != nil {
		return "", fmt.Errorf("lock the tool cache: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	began := time.Now()
	cmd := exec.CommandContext(ctx, filepath.Join(t.Root, "hack", "tools.sh"), "path", name)
	cmd.Dir = t.Root
	// tools.sh reports a build (one time, minutes) on stderr: pass it on.
	cmd.Stderr = progress
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/tools.sh path %s: %w (it builds %s with go install; is the Go module proxy reachable?)", name, err, name)
	}
	if d := time.Since(began); d > 5*time.Second {
		fmt.Fprintf(progress, "localsvc: built %s in %v\n", name, d.Round(time.Second))
	}
	return strings.TrimSpace(string(out)), nil
}
