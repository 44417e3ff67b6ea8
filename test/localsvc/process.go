package localsvc

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
	"syscall"
	"time"
)

// Spec is what every service is started with.
type Spec struct {
	// Dir holds the server's data and its log; it is created if missing and
	// never removed: a caller that wants the data gone removes Dir.
	Dir string
	// Port is the server's TCP port; 0 picks a free one.
	Port int
	// Host is the address the server listens on (default 127.0.0.1). Another
	// address serves clients beyond this machine's loopback, such as pods
	// of a local cluster: those servers accept them without passwords, so
	// use it only for test data on a network of this machine's own.
	Host string
	// Persist asks for durable settings, for data that must survive
	// restarts and crashes; without it a server may trade safety for speed
	// (PostgreSQL without fsync, Redis in memory only).
	Persist bool
}

func (s Spec) host() string {
	if s.Host == "" {
		return "127.0.0.1"
	}
	return s.Host
}

// stopGrace is how long a server has to stop cleanly before it is killed.
const stopGrace = 10 * time.Second

// process is a server child of this process.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	stopSig syscall.Signal
	exited  chan struct{} // closed when the process has exited
	waitErr error         // valid once exited is closed
}

// procSpec describes a program to run.
type procSpec struct {
	name    string
	path    string
	args    []string
	env     []string // added to this process's environment
	dir     string   // working directory; the log goes there too
	cred    *syscall.Credential
	stopSig syscall.Signal // asks for a clean shutdown
}

// startProcess starts spec in its own process group, killed with SIGKILL if
// this process dies, with its output appended to spec.dir/NAME.log.
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

// runToEnd runs spec and waits until it exits, failing with its log.
func runToEnd(ctx context.Context, spec procSpec) error {
	p, err := startProcess(spec)
	if err != nil {
		return err
	}
	select {
	case <-p.exited:
		err = p.waitErr
	case <-ctx.Done():
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
		err = ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("%s: %w; its log:\n%s", spec.name, err, p.logTail())
	}
	return nil
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
	grace := time.NewTimer(stopGrace)
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

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// Another process can take it before it is used, so callers retry a start
// that fails.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// checkFree fails when a fixed port is taken, so that a readiness check
// cannot mistake another server on it for the one being started.
func checkFree(name string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("%s port %d is in use (by an earlier run, or another server?): %w", name, port, err)
	}
	return l.Close()
}

// startAttempts is how often a start on free ports is tried, for port races.
const startAttempts = 3

// onPorts runs start with the ports it needs: the fixed ones, checked to be
// free, once; or, where a port is 0, free ones, up to startAttempts times.
func onPorts(ctx context.Context, name string, fixed []int, start func(ports []int) error) error {
	attempts := 1
	for _, p := range fixed {
		if p == 0 {
			attempts = startAttempts
		}
	}
	var errs []error
	for range attempts {
		ports := make([]int, len(fixed))
		for i, p := range fixed {
			var err error
			if p != 0 {
				err = checkFree(name, p)
			} else {
				p, err = FreePort()
			}
			if err != nil {
				return err
			}
			ports[i] = p
		}
		err := start(ports)
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

// requireFile fails with an install hint when path is not an executable.
func requireFile(path, install string) error {
	st, err := os.Stat(path)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("%s not found: %s (make deps installs it)", path, install)
	}
	return nil
}

// lookPath finds a program on PATH, or fails with an install hint.
func lookPath(name, install string) (string, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found on PATH: %s (make deps installs it)", name, install)
	}
	return path, nil
}

// makeDir creates a server's folder.
func makeDir(name, dir string) error {
	if dir == "" {
		return fmt.Errorf("%s: no folder given", name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("make %s folder: %w", name, err)
	}
	return nil
}
