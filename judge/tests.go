package judge

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/codequest-dev/codequest/sandbox"
)

// testRuns runs a judging's tests, up to Config.Parallel at once, in test
// order; result waits for one. stop cancels what is still running and waits
// for it, so no run outlives the judging.
type testRuns struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   []chan struct{}
	res    []*TestResult
	errs   []error
}

func (j *Judge) startTests(ctx context.Context, p *Problem, prog, validator *compiled, keep int) *testRuns {
	ctx, cancel := context.WithCancel(ctx)
	n := len(p.Tests)
	r := &testRuns{cancel: cancel, done: make([]chan struct{}, n), res: make([]*TestResult, n), errs: make([]error, n)}
	for i := range r.done {
		r.done[i] = make(chan struct{})
	}
	slots := make(chan struct{}, max(1, j.cfg.Parallel))
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for i, t := range p.Tests {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				for ; i < n; i++ {
					r.errs[i] = ctx.Err()
					close(r.done[i])
				}
				return
			}
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				r.res[i], r.errs[i] = j.runTest(ctx, p, prog, validator, t, keep)
				close(r.done[i])
				<-slots
			}()
		}
	}()
	return r
}

func (r *testRuns) result(i int) (*TestResult, error) {
	<-r.done[i]
	return r.res[i], r.errs[i]
}

func (r *testRuns) stop() {
	r.cancel()
	r.wg.Wait()
}

// programSpec is how a compiled program runs on problem p.
func (j *Judge) programSpec(p *Problem, prog *compiled) sandbox.Spec {
	// A private copy: the run's mount table names no artifact cache key.
	binds := []sandbox.Bind{{Source: prog.Dir, Target: Box, Copy: true}}
	for _, b := range prog.lang.Binds {
		binds = append(binds, sandbox.Bind{Source: b, Target: b})
	}
	return sandbox.Spec{
		Args:    expand(prog.lang.Run, prog.Src, prog.Main, p.Memory>>20),
		Env:     j.env(prog.lang),
		Binds:   binds,
		Network: prog.net,
		Limits: sandbox.Limits{
			CPUTime: j.stopAt(p.TimeLimit, prog.lang), WallTime: j.cfg.WallLimit(p.TimeLimit),
			Memory: p.Memory + prog.lang.MemoryOverhead, Output: p.Output, Processes: 128,
			Stack: p.Memory,
		},
	}
}

// runTestOnce runs one test and checks it.
func (j *Judge) runTestOnce(ctx context.Context, p *Problem, prog, validator *compiled, t Test, keep int) (*TestResult, error) {
	if p.Validation == ValidationInteractive {
		return j.runInteractive(ctx, p, prog, validator, t)
	}
	in, err := openInput(t)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	spec := j.programSpec(p, prog)
	spec.Stdin = in
	r, err := j.run(ctx, spec)
	if err != nil {
		return nil, err
	}
	tr := measure(t, r)
	if keep > 0 {
		tr.Output = string(r.Stdout[:min(len(r.Stdout), keep)])
	}
	over, err := j.overLimit(ctx, p, prog.lang, r, tr)
	if err != nil {
		return nil, err
	}
	if v, msg, detail := classify(p, prog.lang, r, over, tr.StartupMillis); v != "" {
		tr.Verdict, tr.Message, tr.Detail = v, msg, detail
		return tr, nil
	}
	flags := p.ValidatorFlags
	if t.ValidatorFlags != nil {
		flags = t.ValidatorFlags
	}
	if p.Validation == ValidationDefault {
		opts, err := ParseValidatorFlags(flags)
		if err != nil {
			return nil, err
		}
		ans, err := os.ReadFile(t.Answer)
		if err != nil {
			return nil, err
		}
		ok, detail := Compare(ans, r.Stdout, opts)
		tr.Verdict = Accepted
		if !ok {
			tr.Verdict, tr.Message, tr.Detail = WrongAnswer, "wrong answer", detail
		}
		return tr, nil
	}
	v, msg, detail, err := j.runValidator(ctx, p, validator, t, flags, r.Stdout)
	if err != nil {
		return nil, err
	}
	tr.Verdict, tr.Message, tr.Detail = v, msg, detail
	return tr, nil
}

func measure(t Test, r *sandbox.Result) *TestResult {
	return &TestResult{
		Name: t.Name, CPUMillis: r.CPUTime.Milliseconds(), UserMillis: r.UserTime.Milliseconds(), WallMillis: r.WallTime.Milliseconds(),
		MemoryKiB: r.PeakMemory >> 10, ExitCode: r.ExitCode, Signal: sandbox.SignalName(r.Signal),
	}
}

// classify applies TLE, MLE, OLE, RTE in that order; "" means the run
// ended normally and its output is to be checked. The message holds only
// what the judge measured, never what the program wrote (it may reach a
// learner: a program that prints its secret input to stderr must not read
// it back in its verdict); detail, for the problem's editors, has the tail
// of the program's stderr.
// over says whether the run's CPU time is over the limit (see overLimit).
func classify(p *Problem, lang *Language, r *sandbox.Result, over bool, startupMillis int64) (v Verdict, msg, detail string) {
	detail = lastLine(r.Stderr)
	switch {
	case r.WallExceeded:
		return TimeLimitExceeded, fmt.Sprintf("wall-clock limit %s exceeded", r.WallTime.Round(time.Millisecond)), ""
	case over && startupMillis > 0:
		return TimeLimitExceeded, fmt.Sprintf("CPU time %s, %s after the start-up allowance, over the limit %s", r.CPUTime.Round(time.Millisecond),
			(r.CPUTime - time.Duration(startupMillis)*time.Millisecond).Round(time.Millisecond), p.TimeLimit), ""
	case over:
		return TimeLimitExceeded, fmt.Sprintf("CPU time %s over the limit %s", r.CPUTime.Round(time.Millisecond), p.TimeLimit), ""
	case r.OOMKilled || r.MemoryExceeded || (r.Signal == syscall.SIGKILL && r.PeakMemory > p.Memory):
		// The cgroup (or the resident-memory poll) enforces the limit on
		// the memory the run owns; file pages shared with the host's page
		// cache count in the reported peak but are not charged, so a peak
		// over the limit alone (a JVM's JIT arenas) is not MLE.
		return MemoryLimitExceeded, fmt.Sprintf("peak memory %d MiB, limit %d MiB", r.PeakMemory>>20, p.Memory>>20), ""
	case r.ExitCode != 0 && lang.MemoryError != "" && strings.Contains(string(r.Stderr), lang.MemoryError):
		return MemoryLimitExceeded, "out of memory (" + lang.MemoryError + ")", detail
	case r.OutputExceeded:
		return OutputLimitExceeded, fmt.Sprintf("more than %d MiB of output", p.Output>>20), ""
	case r.Signal != 0:
		return RuntimeError, "killed by " + sandbox.SignalName(r.Signal), detail
	case r.ExitCode != 0:
		return RuntimeError, fmt.Sprintf("exit code %d", r.ExitCode), detail
	}
	return "", "", ""
}

func lastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return clip(s, 200)
}
