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
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	// gets its own uid, so RLIMIT_NPROC counts only its processes).
	// Default 2000000 + 1000 × (pid mod 1000).
	UIDBase int
	// InitPath is the binary executed as the runs' init; it must call Main
	// first thing. Default: FindInit, else /proc/self/exe (this binary).
	InitPath string
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
	// Work, if set, is a host folder bound at /work (writable if
	// WorkWritable); otherwise /work is a fresh tmpfs of ScratchSize bytes.
	Work         string
	WorkWritable bool
	ScratchSize  int64
	// TmpSize > 0 gives a writable tmpfs /tmp of that size; otherwise /tmp
	// is read-only and empty.
	TmpSize int64
	// Binds are extra host paths.
	Binds []Bind
	// UID runs the program as this uid (default: a fresh per-run uid).
	UID int
	// Stdin is the program's standard input (default /dev/null).
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
	if cfg.UIDBase == 0 {
		cfg.UIDBase = 2000000 + 1000*(os.Getpid()%1000)
	}
	s := &Sandbox{cfg: cfg}
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
		cg, err := newCgroupParent(fmt.Sprintf("codequest-sandbox-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6))
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

// Run runs spec in a fresh isolation context and returns what happened. An
// error means the judge could not run it (not that the program failed).
func (s *Sandbox) Run(ctx context.Context, spec Spec) (*Result, error) {
	lim := spec.Limits.withDefaults()
	if len(spec.Args) == 0 {
		return nil, errors.New("sandbox run: no command")
	}
	uid := spec.UID
	if uid == 0 {
		uid = s.nextUID()
	}
	cfg := initConfig{
		Root:        s.root,
		ReadOnly:    s.cfg.ReadOnly,
		Binds:       spec.Binds,
		Work:        spec.Work,
		WorkRW:      spec.WorkWritable,
		ScratchSize: spec.ScratchSize,
		TmpSize:     spec.TmpSize,
		Dir:         spec.Dir,
		Args:        spec.Args,
		Env:         spec.Env,
		UID:         uid,
		CPU:         lim.CPUTime,
		Wall:        lim.WallTime,
		FileSize:    lim.FileSize,
		OpenFiles:   lim.OpenFiles,
		Stack:       lim.Stack,
		NProc:       lim.Processes,
		Seccomp:     s.layers.Seccomp,
	}
	if cfg.Dir == "" {
		cfg.Dir = "/work"
	}
	if cfg.ScratchSize == 0 {
		cfg.ScratchSize = 16 << 20
	}

	var cg *cgroupRun
	if s.cgroups != nil {
		var err error
		cg, err = s.cgroups.newRun(fmt.Sprintf("run-%d", s.seq.Add(1)), lim, s.layers.MemoryLimit == memCgroup)
		if err != nil {
			return nil, fmt.Errorf("create run cgroup: %w", err)
		}
		defer cg.remove()
	}

	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("config pipe: %w", err)
	}
	defer cfgR.Close()
	defer cfgW.Close()
	repR, repW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("report pipe: %w", err)
	}
	defer repR.Close()
	defer repW.Close()

	res := &Result{ExitCode: -1}
	var closeAfterStart []*os.File
	var wg sync.WaitGroup
	stopOutput := make(chan struct{}, 1)

	stdin := spec.Stdin
	if stdin == nil {
		f, err := os.Open(os.DevNull)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		stdin = f
	}
	stdout := spec.Stdout
	var outBuf, errBuf bytes.Buffer
	if stdout == nil {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		defer r.Close()
		stdout = w
		closeAfterStart = append(closeAfterStart, w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if capture(r, &outBuf, lim.Output) {
				res.OutputExceeded = true
				stopOutput <- struct{}{}
			}
		}()
	}
	stderr := spec.Stderr
	if stderr == nil {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		defer r.Close()
		stderr = w
		closeAfterStart = append(closeAfterStart, w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			capture(r, &errBuf, lim.Stderr)
			io.Copy(io.Discard, r)
		}()
	}

	attr := &os.ProcAttr{
		Dir:   "/",
		Env:   []string{initEnv + "=" + initProtocol},
		Files: []*os.File{stdin, stdout, stderr, cfgR, repW},
		Sys: &syscall.SysProcAttr{
			Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWNET |
				syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS,
			Setsid: true,
		},
	}
	if cg != nil && !s.layers.GVisor {
		// v1: the init's main thread moves itself (cheap, see joinCgroups)
		// before it forks the program; v2 and gVisor's cgroupfs: the init
		// is moved by pid below.
		cfg.JoinCgroups = cg.taskFiles()
	}
	if spec.Network != nil && spec.Network.f != nil {
		// The init joins it (fd 5) before it does anything else.
		attr.Files = append(attr.Files, spec.Network.f)
		attr.Sys.Cloneflags &^= syscall.CLONE_NEWNET
		cfg.JoinNetwork = true
	}
	start := time.Now()
	proc, err := os.StartProcess(s.cfg.InitPath, []string{initArg0}, attr)
	for _, f := range closeAfterStart {
		f.Close()
	}
	if spec.CloseFiles {
		for _, f := range []*os.File{spec.Stdin, spec.Stdout, spec.Stderr} {
			if f != nil {
				f.Close()
			}
		}
	}
	if err != nil {
		close(stopOutput)
		wg.Wait()
		return nil, fmt.Errorf("start sandbox init: %w", err)
	}
	repW.Close()
	cfgR.Close()
	if cg != nil && cfg.JoinCgroups == nil {
		if err := cg.add(proc.Pid); err != nil {
			proc.Kill()
			proc.Wait()
			wg.Wait()
			return nil, fmt.Errorf("add init to cgroup: %w", err)
		}
	}
	if err := json.NewEncoder(cfgW).Encode(cfg); err != nil {
		proc.Kill()
		proc.Wait()
		wg.Wait()
		return nil, fmt.Errorf("send sandbox config: %w", err)
	}
	cfgW.Close()

	// Report reader.
	var rep initReport
	repDone := make(chan error, 1)
	go func() {
		data, err := io.ReadAll(repR)
		if err == nil && len(data) > 0 {
			err = json.Unmarshal(data, &rep)
		} else if err == nil {
			err = errors.New("no report")
		}
		repDone <- err
	}()
	waitDone := make(chan *os.ProcessState, 1)
	go func() {
		st, _ := proc.Wait()
		waitDone <- st
	}()

	// Watch limits until init exits.
	var peakPolled int64
	var polledCPU time.Duration
	wall := time.NewTimer(lim.WallTime)
	defer wall.Stop()
	tick := time.NewTicker(pollInterval(lim.CPUTime))
	defer tick.Stop()
	killed := false
	var killedAt time.Time
	kill := func() {
		if !killed {
			killed, killedAt = true, time.Now()
			proc.Kill()
			if cg != nil {
				cg.killAll()
			}
		}
	}
	var state *os.ProcessState
loop:
	for {
		select {
		case state = <-waitDone:
			break loop
		case <-ctx.Done():
			kill()
		case <-wall.C:
			res.WallExceeded = true
			kill()
		case <-stopOutput:
			kill()
		case <-tick.C:
			cpu := s.cpuUsage(cg, proc.Pid)
			polledCPU = max(polledCPU, cpu)
			if cpu > lim.CPUTime {
				res.CPUExceeded = true
				kill()
			}
			if s.layers.MemoryLimit == memRSSPoll {
				rss := treeRSS(proc.Pid, s.memMeasure)
				if cg != nil && s.layers.GVisor {
					// Both over-count: smaps counts a forked copy-on-write
					// page in every process, the cgroup counts file pages.
					// The smaller is the closer.
					if u := cg.usage(); u > 0 && u < rss {
						rss = u
					}
				}
				if rss > peakPolled {
					peakPolled = rss
				}
				if rss > lim.Memory+s.memPollSlack {
					res.MemoryExceeded = true
					kill()
				}
			}
		}
	}
	res.Ended = time.Now()
	if killed {
		// The run ended when it was killed, not when the kernel finished
		// reaping its namespace: a peer (an interactor) that reacts to the
		// closed pipes must be seen to end after it.
		res.Ended = killedAt
	}
	res.WallTime = res.Ended.Sub(start)
	// The init is gone, so is its PID namespace: every process of the run
	// has been sent SIGKILL by the kernel. Wait for the cgroup to drain.
	if cg != nil {
		cg.killAll()
		cg.waitEmpty(2 * time.Second)
	}
	repErr := <-repDone
	wg.Wait()
	res.Stdout = outBuf.Bytes()
	res.Stderr = errBuf.Bytes()

	if repErr == nil && rep.Error == "" {
		res.CPUTime = time.Duration(rep.CPUNs)
		res.PeakMemory = rep.MaxRSS
		if rep.Exited {
			res.ExitCode = rep.ExitCode
		} else {
			res.Signal = syscall.Signal(rep.Signal)
		}
	} else {
		if rep.Error != "" {
			res.InitError = rep.Error
		}
		res.Signal = syscall.SIGKILL
		if state != nil {
			if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				res.Signal = ws.Signal()
			}
			ru, _ := state.SysUsage().(*syscall.Rusage)
			if ru != nil {
				res.CPUTime = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
				res.PeakMemory = ru.Maxrss << 10
			}
		}
	}
	if cg != nil {
		if c := cg.cpuUsage(); c > 0 && (killed || res.CPUTime == 0) {
			res.CPUTime = c
		}
		res.OOMKilled = cg.oomKills() > 0
		if killed || rep.MaxRSS == 0 {
			if p := cg.peak(); p > res.PeakMemory {
				res.PeakMemory = p
			}
		}
	}
	if cg == nil && killed && polledCPU > res.CPUTime {
		// The killed init's rusage misses its killed children.
		res.CPUTime = polledCPU
	}
	if peakPolled > res.PeakMemory {
		res.PeakMemory = peakPolled
	}
	if res.Signal == syscall.SIGXCPU || res.CPUTime > lim.CPUTime {
		res.CPUExceeded = true
	}
	if res.InitError != "" && !killed {
		return res, fmt.Errorf("sandbox init: %s", res.InitError)
	}
	// An init that died on its own, without reporting and without being
	// killed at a limit, is the judge's failure, not the program's: its
	// output must never pass for the program's (a compile error, say).
	if repErr != nil && !killed && !res.OOMKilled && !res.MemoryExceeded && !res.CPUExceeded {
		return res, fmt.Errorf("sandbox init died without a report (%v): %s", repErr, clipTail(res.Stderr, 300))
	}
	return res, nil
}

// clipTail returns at most the last n bytes of b, as text.
func clipTail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func pollInterval(cpu time.Duration) time.Duration {
	d := cpu / 20
	if d < 5*time.Millisecond {
		d = 5 * time.Millisecond
	}
	if d > 50*time.Millisecond {
		d = 50 * time.Millisecond
	}
	return d
}

// cpuUsage is the run's CPU time so far.
func (s *Sandbox) cpuUsage(cg *cgroupRun, pid int) time.Duration {
	if cg != nil {
		return cg.cpuUsage()
	}
	return treeCPU(pid)
}

// capture copies r into buf up to limit bytes and reports whether more
// than limit bytes were offered.
func capture(r io.Reader, buf *bytes.Buffer, limit int64) bool {
	n, _ := io.Copy(buf, io.LimitReader(r, limit))
	if n < limit {
		return false
	}
	var one [1]byte
	m, _ := r.Read(one[:])
	return m > 0
}

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
