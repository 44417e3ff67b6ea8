package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// Run runs spec in a fresh isolation context and returns what happened. An
// error means the judge could not run it (not that the program failed).
func (s *Sandbox) Run(ctx context.Context, spec Spec) (*Result, error) {
	lim := spec.Limits.withDefaults()
	if len(spec.Args) == 0 {
		return nil, errors.New("sandbox run: no command")
	}
	cfg := s.initConfig(spec, lim)
	var cg *cgroupRun
	if s.cgroups != nil {
		var err error
		cg, err = s.cgroups.newRun(fmt.Sprintf("run-%d", s.seq.Add(1)), lim, s.layers.MemoryLimit == memCgroup)
		if err != nil {
			return nil, fmt.Errorf("create run cgroup: %w", err)
		}
		defer cg.remove()
		if !s.layers.GVisor {
			// v1: the init's main thread moves itself (cheap, see
			// openCgroups) before it forks the program; v2 and gVisor's
			// cgroupfs: the init is moved by pid before it gets cfg.
			cfg.JoinCgroups = cg.taskFiles()
		}
	}
	rio, err := openIO(spec, lim)
	if err != nil {
		return nil, err
	}
	defer rio.close()

	st, err := s.start(spec, cfg, cg, rio)
	if err != nil {
		return nil, err
	}
	w := s.watch(ctx, st, cg, lim, rio.over)
	res := &Result{ExitCode: -1, Ended: w.ended, WallTime: w.ended.Sub(st.started)}
	res.WallExceeded, res.CPUExceeded, res.MemoryExceeded = w.wall, w.cpu, w.memory
	// The init is gone, so is its PID namespace: every process of the run
	// has been sent SIGKILL by the kernel. Wait for the cgroup to drain.
	if cg != nil {
		cg.killAll()
		cg.waitEmpty(2 * time.Second)
	}
	rep, repErr := st.report()
	res.Stdout, res.Stderr, res.OutputExceeded = rio.output()
	s.account(res, rep, repErr, w, cg, lim)
	if res.InitError != "" && !w.killed {
		return res, fmt.Errorf("sandbox init: %s", res.InitError)
	}
	// An init that died on its own, without reporting and without being
	// killed at a limit, is the judge's failure, not the program's: its
	// output must never pass for the program's (a compile error, say).
	if repErr != nil && !w.killed && !res.OOMKilled && !res.MemoryExceeded && !res.CPUExceeded {
		return res, fmt.Errorf("sandbox init died without a report (%v): %s", repErr, clipTail(res.Stderr, 300))
	}
	return res, nil
}

// initConfig is what the run's init is told.
func (s *Sandbox) initConfig(spec Spec, lim Limits) initConfig {
	uid := spec.UID
	if uid == 0 {
		uid = s.nextUID()
	}
	cfg := initConfig{
		Root:            s.root,
		ReadOnly:        s.cfg.ReadOnly,
		Binds:           spec.Binds,
		ScratchSize:     spec.ScratchSize,
		CopySize:        lim.Copy,
		TmpSize:         spec.TmpSize,
		Dir:             spec.Dir,
		Args:            spec.Args,
		Env:             spec.Env,
		UID:             uid,
		CPU:             lim.CPUTime,
		Wall:            lim.WallTime,
		FileSize:        lim.FileSize,
		OpenFiles:       lim.OpenFiles,
		Stack:           lim.Stack,
		NProc:           lim.Processes,
		Seccomp:         s.layers.Seccomp,
		CgroupNamespace: s.layers.CgroupNamespace,
	}
	if cfg.Dir == "" {
		cfg.Dir = "/work"
	}
	if cfg.ScratchSize == 0 {
		cfg.ScratchSize = 16 << 20
	}
	return cfg
}

// started is a run's init, started and configured.
type started struct {
	proc    *os.Process
	started time.Time
	exited  chan *os.ProcessState
	rep     chan reportOrError
}

type reportOrError struct {
	rep initReport
	err error
}

// report waits for the init's report.
func (st *started) report() (initReport, error) {
	r := <-st.rep
	return r.rep, r.err
}

// start starts the run's init in its new namespaces, puts it in the run's
// cgroup where it cannot move itself, and sends it cfg.
func (s *Sandbox) start(spec Spec, cfg initConfig, cg *cgroupRun, rio *runIO) (*started, error) {
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
	defer repW.Close()
	attr := &os.ProcAttr{
		Dir:   "/",
		Env:   []string{initEnv + "=" + initProtocol},
		Files: []*os.File{rio.stdin, rio.stdout, rio.stderr, cfgR, repW},
		Sys: &syscall.SysProcAttr{
			Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWNET |
				syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS,
			Setsid: true,
		},
	}
	if spec.Network != nil && spec.Network.f != nil {
		// The init joins it (fd 5) before it does anything else.
		attr.Files = append(attr.Files, spec.Network.f)
		attr.Sys.Cloneflags &^= syscall.CLONE_NEWNET
		cfg.JoinNetwork = true
	}
	st := &started{started: time.Now(), exited: make(chan *os.ProcessState, 1), rep: make(chan reportOrError, 1)}
	proc, err := os.StartProcess(s.cfg.InitPath, []string{initArg0}, attr)
	rio.started(spec.CloseFiles)
	if err != nil {
		repR.Close()
		return nil, fmt.Errorf("start sandbox init: %w", err)
	}
	st.proc = proc
	fail := func(err error) (*started, error) {
		repR.Close()
		proc.Kill()
		proc.Wait()
		return nil, err
	}
	repW.Close()
	cfgR.Close()
	if cg != nil && cfg.JoinCgroups == nil {
		if err := cg.add(proc.Pid); err != nil {
			return fail(fmt.Errorf("add init to cgroup: %w", err))
		}
	}
	if err := json.NewEncoder(cfgW).Encode(cfg); err != nil {
		return fail(fmt.Errorf("send sandbox config: %w", err))
	}
	cfgW.Close()
	go func() {
		defer repR.Close()
		var r reportOrError
		data, err := io.ReadAll(repR)
		switch {
		case err != nil:
			r.err = err
		case len(data) == 0:
			r.err = errors.New("no report")
		default:
			r.err = json.Unmarshal(data, &r.rep)
		}
		st.rep <- r
	}()
	go func() {
		ps, _ := proc.Wait()
		st.exited <- ps
	}()
	return st, nil
}

// watched is how a run ended, as its watch saw it.
type watched struct {
	state      *os.ProcessState
	killed     bool
	ended      time.Time
	wall, cpu  bool // killed at the wall or CPU limit
	memory     bool // killed by the memory poll
	polledCPU  time.Duration
	peakPolled int64
}

// watch polls the run's CPU time (and, without a memory cgroup, its
// memory) and kills it at a limit, at the wall limit, when its output
// overflows or when ctx ends, until the init exits.
func (s *Sandbox) watch(ctx context.Context, st *started, cg *cgroupRun, lim Limits, outputOver <-chan struct{}) watched {
	var w watched
	wall := time.NewTimer(lim.WallTime)
	defer wall.Stop()
	tick := time.NewTicker(pollInterval(lim.CPUTime))
	defer tick.Stop()
	var killedAt time.Time
	kill := func() {
		if !w.killed {
			w.killed, killedAt = true, time.Now()
			st.proc.Kill()
			if cg != nil {
				cg.killAll()
			}
		}
	}
	ctxDone := ctx.Done()
	for {
		select {
		case w.state = <-st.exited:
			w.ended = time.Now()
			if w.killed {
				// The run ended when it was killed, not when the kernel
				// finished reaping its namespace: a peer (an interactor)
				// that reacts to the closed pipes must see it end first.
				w.ended = killedAt
			}
			return w
		case <-ctxDone:
			ctxDone = nil
			kill()
		case <-wall.C:
			w.wall = true
			kill()
		case <-outputOver:
			kill()
		case <-tick.C:
			cpu := s.cpuUsage(cg, st.proc.Pid)
			w.polledCPU = max(w.polledCPU, cpu)
			if cpu > lim.CPUTime {
				w.cpu = true
				kill()
			}
			if s.layers.MemoryLimit == memRSSPoll {
				rss := s.pollMemory(cg, st.proc.Pid)
				w.peakPolled = max(w.peakPolled, rss)
				if rss > lim.Memory+s.memPollSlack {
					w.memory = true
					kill()
				}
			}
		}
	}
}

// pollMemory is the run's memory now, as the rss-poll measures it.
func (s *Sandbox) pollMemory(cg *cgroupRun, pid int) int64 {
	rss := treeRSS(pid, s.memMeasure)
	if cg != nil && s.layers.GVisor {
		// Both over-count: smaps counts a forked copy-on-write page in
		// every process, the cgroup counts file pages. The smaller is the
		// closer.
		if u := cg.usage(); u > 0 && u < rss {
			rss = u
		}
	}
	return rss
}

// account fills res from the init's report, the cgroup and the poll.
func (s *Sandbox) account(res *Result, rep initReport, repErr error, w watched, cg *cgroupRun, lim Limits) {
	if repErr == nil && rep.Error == "" {
		res.CPUTime = time.Duration(rep.CPUNs)
		res.UserTime = time.Duration(rep.UserNs)
		res.PeakMemory = rep.MaxRSS
		res.CopyError = rep.CopyError
		if rep.Exited {
			res.ExitCode = rep.ExitCode
		} else {
			res.Signal = syscall.Signal(rep.Signal)
		}
	} else {
		res.InitError = rep.Error
		res.Signal = syscall.SIGKILL
		if w.state != nil {
			if ws, ok := w.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				res.Signal = ws.Signal()
			}
			if ru, _ := w.state.SysUsage().(*syscall.Rusage); ru != nil {
				res.CPUTime = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
				res.PeakMemory = ru.Maxrss << 10
			}
		}
	}
	if cg != nil {
		if c := cg.cpuUsage(); c > 0 && (w.killed || res.CPUTime == 0) {
			res.CPUTime = c
		}
		res.OOMKilled = cg.oomKills() > 0
		if w.killed || rep.MaxRSS == 0 {
			res.PeakMemory = max(res.PeakMemory, cg.peak())
		}
	}
	if cg == nil && w.killed && w.polledCPU > res.CPUTime {
		// The killed init's rusage misses its killed children.
		res.CPUTime = w.polledCPU
	}
	res.PeakMemory = max(res.PeakMemory, w.peakPolled)
	if res.Signal == syscall.SIGXCPU || res.CPUTime > lim.CPUTime {
		res.CPUExceeded = true
	}
}

// clipTail returns at most the last n bytes of b, as text.
func clipTail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func pollInterval(cpu time.Duration) time.Duration {
	return min(max(cpu/20, 5*time.Millisecond), 50*time.Millisecond)
}

// cpuUsage is the run's CPU time so far.
func (s *Sandbox) cpuUsage(cg *cgroupRun, pid int) time.Duration {
	if cg != nil {
		return cg.cpuUsage()
	}
	return treeCPU(pid)
}
