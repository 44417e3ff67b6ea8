// Package sandbox runs untrusted programs in a fresh isolation context per
// run: new PID, mount, network, IPC and UTS namespaces, a minimal read-only
// root reached by pivot_root, an unprivileged uid, rlimits, a seccomp
// deny-list, and a cgroup for memory, process-count limits and CPU
// accounting. Each run has a small init as PID 1 of its namespace (the
// current binary re-executed, see Main) that forks the program and reaps it.
//
// Layers the host lacks are replaced by weaker mechanisms and reported in
// Layers, never dropped silently: inside gVisor, where memory and pids
// cgroup limits are ignored, the run's resident memory is polled and the run
// killed at the limit, and RLIMIT_NPROC with a per-run uid bounds processes.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Config configures a Sandbox. The zero value is usable.
type Config struct {
	// ReadOnly lists host paths bound read-only at the same path inside every
	// run (toolchains). Symbolic links are recreated as links. Missing paths
	// are ignored. Default: DefaultReadOnly.
	ReadOnly []string
	// StateDir holds the mount point of the runs' roots. Default: a fresh
	// folder under os.TempDir().
	StateDir string
	// UIDBase is the first of 1000 unprivileged uids given to runs (a run
	// gets its own uid, so RLIMIT_NPROC counts only its processes). No two
	// judges on one kernel may share them. Default: a block claimed on this
	// host (see uids.go); judge pods pass UIDBaseForPod.
	UIDBase int
	// InitPath is the binary executed as the runs' init; it must call Main
	// first thing. Default: FindInit, else /proc/self/exe (this binary).
	InitPath string
	// CPUPriority gives the runs' cgroup the highest CPU weight, so that a
	// run gets a core before the host's other work does, as on a
	// judgehost's dedicated core: its wall time then does not stretch with
	// the machine's load. (Its CPU time does not depend on it on a plain
	// kernel; see docs/judge.md.) Judge pods get their cores from
	// Kubernetes: their CPU request, whole cores with the static CPU
	// manager.
	CPUPriority bool
	// ForceNoCgroup and ForceRSSPoll select the degraded mechanisms even
	// where the host has cgroups (for tests of the gVisor path).
	ForceNoCgroup bool
	ForceRSSPoll  bool
}

// DefaultReadOnly is what a run sees of the host besides its own folders.
var DefaultReadOnly = []string{
	"/usr", "/bin", "/lib", "/lib64", "/sbin",
	"/etc/alternatives", "/etc/java-17-openjdk", "/etc/ld.so.cache",
	"/etc/localtime",
}

// Bind is an extra host path visible inside a run.
type Bind struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	Writable bool   `json:"writable,omitempty"`
	// Copy makes Target a private tmpfs holding a copy of the folder
	// Source instead of a bind mount, so the run's mount table names no
	// host path (a bind's source shows in /proc/self/mountinfo). A
	// writable copy holds at most Limits.Copy bytes, and what it holds when
	// the run ends is copied back into Source (folders and regular files
	// only; Result.CopyError says why not).
	Copy bool `json:"copy,omitempty"`
}

// Limits bound one run. Zero fields take the defaults noted.
type Limits struct {
	CPUTime   time.Duration // CPU time of the whole tree (default 10 s)
	WallTime  time.Duration // wall clock (default 3 × CPUTime + 5 s)
	Memory    int64         // bytes of resident memory (default 256 MiB)
	Output    int64         // bytes of captured stdout before the run is stopped (default 64 MiB)
	Stderr    int64         // bytes of captured stderr kept (default 64 KiB; the rest is drained)
	Processes int           // tasks (processes and threads) (default 64)
	FileSize  int64         // RLIMIT_FSIZE (default 64 MiB)
	OpenFiles int           // RLIMIT_NOFILE (default 256)
	Stack     int64         // RLIMIT_STACK (default Memory)
	Copy      int64         // bytes a writable private copy (Bind.Copy) may hold (default 64 MiB)
}

func (l Limits) withDefaults() Limits {
	if l.CPUTime <= 0 {
		l.CPUTime = 10 * time.Second
	}
	if l.WallTime <= 0 {
		l.WallTime = 3*l.CPUTime + 5*time.Second
	}
	if l.Memory <= 0 {
		l.Memory = 256 << 20
	}
	if l.Output <= 0 {
		l.Output = 64 << 20
	}
	if l.Stderr <= 0 {
		l.Stderr = 64 << 10
	}
	if l.Processes <= 0 {
		l.Processes = 64
	}
	if l.FileSize <= 0 {
		l.FileSize = 64 << 20
	}
	if l.OpenFiles <= 0 {
		l.OpenFiles = 256
	}
	if l.Stack <= 0 {
		l.Stack = l.Memory
	}
	if l.Copy <= 0 {
		l.Copy = 64 << 20
	}
	return l
}

// Spec describes one run.
type Spec struct {
	// Args is the command; Args[0] is looked up in PATH inside the run.
	Args []string
	// Env is the whole environment (nothing of the judge's is inherited).
	Env []string
	// Dir is the working folder inside the run (default /work).
	Dir string
	// ScratchSize is the size of /work, a fresh tmpfs (default 16 MiB).
	ScratchSize int64
	// TmpSize > 0 gives a writable tmpfs /tmp of that size; otherwise /tmp
	// is read-only and empty.
	TmpSize int64
	// Binds are extra host paths.
	Binds []Bind
	// UID runs the program as this uid (default: a fresh per-run uid).
	UID int
	// Stdin is the program's standard input (default /dev/null). A
	// regular file is given to the program as a sealed private copy, so
	// that its descriptor names no host path.
	Stdin *os.File
	// Stdout and Stderr, if set, are given to the program as they are;
	// otherwise they are captured into Result (stdout up to Limits.Output,
	// which stops the run when exceeded).
	Stdout, Stderr *os.File
	// CloseFiles closes Stdin, Stdout and Stderr once the run has started
	// (for pipes wired between two runs, so each sees the other's end).
	CloseFiles bool
	// Network, if set, is the run's network namespace (see NewNetwork);
	// otherwise the run gets a fresh one.
	Network *Network
	Limits  Limits
}

// Result is what a run did.
type Result struct {
	ExitCode int            // exit status if it exited, else -1
	Signal   syscall.Signal // the signal that killed it, if any
	CPUTime  time.Duration  // user+system of every process of the run
	// UserTime is the user part of CPUTime, when the init reported it
	// (under gVisor, system time is the sentry's work for the program).
	UserTime time.Duration
	WallTime time.Duration
	// PeakMemory is the peak resident memory in bytes (rusage maxrss of the
	// tree; the cgroup's or polled figure when the init was killed).
	PeakMemory int64
	// OOMKilled: the memory cgroup killed a process of the run.
	OOMKilled bool
	// MemoryExceeded: the polled resident memory went over the limit and the
	// run was killed (hosts without a working memory cgroup).
	MemoryExceeded bool
	CPUExceeded    bool // the CPU limit was reached (cgroup poll or SIGXCPU)
	WallExceeded   bool // the wall-clock limit was reached
	// OutputExceeded: the captured stdout went over Limits.Output; the run
	// was stopped and Stdout is truncated to the limit.
	OutputExceeded bool
	Stdout, Stderr []byte
	// Ended is when the run ended: when it was killed at a limit, else
	// when its init was seen to exit.
	Ended time.Time
	// InitError is set when the run could not be set up inside.
	InitError string
	// CopyError is set when a writable private copy (Bind.Copy) could not
	// be copied back: it outgrew Limits.Copy, or held too many files.
	CopyError string
}

// Sandbox runs programs. Create it with New and release it with Close.
type Sandbox struct {
	cfg     Config
	layers  Layers
	cgroups *cgroupParent // nil without cgroups
	root    string        // mount point of the runs' roots
	ownsDir bool
	seq     atomic.Uint64
	// memMeasure and memPollSlack: how the rss-poll measures a run's
	// memory and how far over the limit it lets it go (see layers.go).
	memMeasure   string
	memPollSlack int64
	uidLock      *os.File // holds the claim on the uid block, if claimed
}

// New detects what the host offers and prepares the state the runs share.
func New(ctx context.Context, cfg Config) (*Sandbox, error) {
	if cfg.ReadOnly == nil {
		cfg.ReadOnly = DefaultReadOnly
	}
	if cfg.InitPath == "" {
		cfg.InitPath = FindInit()
	}
	if cfg.InitPath == "" {
		cfg.InitPath = "/proc/self/exe"
	}
	s := &Sandbox{cfg: cfg}
	if cfg.UIDBase == 0 {
		base, lock, err := claimUIDBlock()
		if err != nil {
			return nil, err
		}
		s.cfg.UIDBase, s.uidLock = base, lock
	}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	if cfg.StateDir == "" {
		dir, err := os.MkdirTemp("", "codequest-sandbox-")
		if err != nil {
			return nil, fmt.Errorf("create sandbox state folder: %w", err)
		}
		cfg.StateDir = dir
		s.cfg.StateDir = dir
		s.ownsDir = true
	}
	s.root = filepath.Join(cfg.StateDir, "root")
	if err := os.MkdirAll(s.root, 0o755); err != nil {
		return nil, fmt.Errorf("create root mount point: %w", err)
	}
	if err := os.Chmod(cfg.StateDir, 0o711); err != nil {
		return nil, fmt.Errorf("chmod state folder: %w", err)
	}
	s.layers = detectLayers(cfg)
	if !cfg.ForceNoCgroup {
		// Named by the uid block, which no other judge here holds.
		cg, err := newCgroupParent(fmt.Sprintf("codequest-sandbox-%d", s.cfg.UIDBase), cfg.CPUPriority && !isGVisor())
		if err != nil {
			s.layers.Notes = append(s.layers.Notes, "no cgroup: "+err.Error())
		} else {
			s.cgroups = cg
		}
	}
	s.layers.fill(s.cgroups, cfg)
	if err := probeSharedNetwork(); err != nil {
		s.layers.Notes = append(s.layers.Notes, "runs cannot share a network namespace ("+err.Error()+"): each run creates its own")
	} else {
		s.layers.SharedNetwork = true
	}
	s.memMeasure, s.memPollSlack = s.layers.MemoryMeasure, s.layers.MemoryPollSlack
	ok = true
	return s, nil
}

// Layers reports the isolation layers in force.
func (s *Sandbox) Layers() Layers { return s.layers }

// InitPath is the binary the runs' init is executed from.
func (s *Sandbox) InitPath() string { return s.cfg.InitPath }

// Close removes the shared state.
func (s *Sandbox) Close() error {
	var errs []error
	if s.cgroups != nil {
		errs = append(errs, s.cgroups.remove())
	}
	if s.ownsDir {
		errs = append(errs, os.RemoveAll(s.cfg.StateDir))
	}
	if s.uidLock != nil {
		errs = append(errs, s.uidLock.Close())
		s.uidLock = nil
	}
	return errors.Join(errs...)
}

// RunUID returns the uid the next run would get; runs with Spec.UID set use
// that one instead.
func (s *Sandbox) nextUID() int {
	return s.cfg.UIDBase + 1 + int(s.seq.Add(1)%999)
}

// CompileUID is the fixed uid compilers run as, so that a shared build
// cache stays writable across compiles.
func (s *Sandbox) CompileUID() int { return s.cfg.UIDBase }

// ErrNotRoot is returned where the sandbox needs privileges it lacks.
var ErrNotRoot = errors.New("sandbox needs root (CAP_SYS_ADMIN) to create namespaces and mounts")

func isGVisor() bool {
	b, err := os.ReadFile("/proc/version")
	if err != nil {
		return false
	}
	return strings.Contains(strings.ToLower(string(b)), "gvisor")
}

// Signal names for reports.
func SignalName(sig syscall.Signal) string {
	if sig == 0 {
		return ""
	}
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	return fmt.Sprintf("signal %d", int(sig))
}
