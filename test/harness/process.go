package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is a server child of the test binary.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	stopSig syscall.Signal
	exited  chan struct{} // closed when the process has exited
	waitErr error         // valid once exited is closed
}

// procSpec describes a server to run.
type procSpec struct {
	name    string
	path    string
	args    []string
	env     []string // added to the test binary's environment
	dir     string   // working directory; the log goes there too
	cred    *syscall.Credential
	stopSig syscall.Signal // asks for a clean shutdown
}

// startProcess starts spec in its own process group, killed with SIGKILL if
// the test binary dies, with its output in a log file in spec.dir.
func startProcess(spec procSpec) (*process, error) {
	logPath := filepath.Join(spec.dir, spec.name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", spec.name, err)
	}
	defer logFile.Close() // the child has its own copy

	cmd := exec.Command(spec.path, spec.args...)
	cmd.Dir = spec.dir
	cmd.Env = append(os.Environ(), spec.env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:    true,
		Pdeathsig:  syscall.SIGKILL,
		Credential: spec.cred,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", spec.name, err)
	}
	p := &process{name: spec.name, cmd: cmd, logPath: logPath, stopSig: spec.stopSig, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// waitReady polls ready until it succeeds, the process exits or ctx ends.
func (p *process) waitReady(ctx context.Context, ready func(ctx context.Context) error) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		attempt, cancel := context.WithTimeout(ctx, time.Second)
		err := ready(attempt)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited (%v) before it was ready; its log:\n%s", p.name, p.waitErr, p.logTail())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last error: %v); its log:\n%s", p.name, ctx.Err(), err, p.logTail())
		case <-tick.C:
		}
	}
}

// stop asks the process group to shut down, then kills it after the grace
// period or when ctx ends.
func (p *process) stop(ctx context.Context) error {
	pgid := p.cmd.Process.Pid
	select {
	case <-p.exited:
		return fmt.Errorf("%s had exited (%v); its log:\n%s", p.name, p.waitErr, p.logTail())
	default:
	}
	if err := syscall.Kill(-pgid, p.stopSig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %s: %w", p.name, err)
	}
	grace := time.NewTimer(10 * time.Second)
	defer grace.Stop()
	select {
	case <-p.exited:
		return nil
	case <-grace.C:
	case <-ctx.Done():
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.exited
	return fmt.Errorf("%s did not stop on %v; killed it", p.name, p.stopSig)
}

// logTail returns the end of the process's log, for error messages.
func (p *process) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	const max = 4000
	if len(b) > max {
		b = b[len(b)-max:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago. Two
// binaries can race for it, so callers retry a start that fails.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startAttempts is how often a server start is tried, for port races.
const startAttempts = 3

// retry runs start up to startAttempts times, until it succeeds.
func retry(ctx context.Context, start func() error) error {
	var errs []error
	for range startAttempts {
		err := start()
		if err == nil {
			return nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

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

// requireFile fails with an install hint when path is not an executable.
func requireFile(path, install string) error {
	st, err := os.Stat(path)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("%s not found: %s (make test installs it)", path, install)
	}
	return nil
}

// lookPath finds a program on PATH, or fails with an install hint.
func lookPath(name, install string) (string, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found on PATH: %s (make test installs it)", name, install)
	}
	return path, nil
}

// toolPath returns the path of a tool that hack/tools.sh builds from the Go
// module proxy, building it first if needed. Builds are serialized across
// test binaries with a lock file, because go test runs binaries in parallel.
func toolPath(ctx context.Context, name string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
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
	// the other tool of this binary.
	waiting := time.AfterFunc(2*time.Second, func() {
		fmt.Fprintf(os.Stderr, "harness: %s waits for another hack/tools.sh build (lock %s)\n", name, lock.Name())
	})
	err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX)
	waiting.Stop()
	if err != nil {
		return "", fmt.Errorf("lock the tool cache: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	began := time.Now()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "tools.sh"), "path", name)
	cmd.Dir = root
	// tools.sh reports a build (one time, minutes) on stderr: pass it on.
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/tools.sh path %s: %w (it builds %s with go install; is the Go module proxy reachable?)", name, err, name)
	}
	if d := time.Since(began); d > 5*time.Second {
		fmt.Fprintf(os.Stderr, "harness: built %s in %v\n", name, d.Round(time.Second))
	}
	return strings.TrimSpace(string(out)), nil
}

// repoRoot finds the repository from the working directory, which go test
// sets to the package's folder.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the repository: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "hack", "tools.sh")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find the repository: no hack/tools.sh above the working directory")
		}
		dir = parent
	}
}
