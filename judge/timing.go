package judge

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/codequest-dev/codequest/sandbox"
)

// How CPU time decides TLE (docs/judge.md, "Time under load"):
//
//   - A run's CPU time counts minus its language's start-up allowance: the
//     CPU time of the language's empty program, measured on this machine
//     (calibrate) the first time a run of that language comes near its
//     limit, and again when that measure is older than calibrationTTL. A JVM
//     spends 0.1-0.2 s starting on a quiet host and 0.4-0.5 s under gVisor;
//     that is not the submission's work, and it grows with the load.
//   - A run over its limit by at most Config.RerunMargin is run again, up to
//     Config.Reruns times, and its best run counts: a neighbour's burst of
//     load is not the program's (Codeforces re-runs borderline verdicts the
//     same way). The report counts the re-runs.
//   - A run is stopped at (limit + allowance) × (1 + margin), so a
//     borderline run's real time is known; a run stopped there is TLE.

// calibrationTTL is how long a start-up measure is used.
const calibrationTTL = 10 * time.Minute

// calibrationRuns is how many runs of the empty program a measure takes
// (the smallest counts: load only ever adds).
const calibrationRuns = 3

type calibration struct {
	cpu time.Duration
	at  time.Time
}

// startupCap bounds a language's allowance, so that the stop threshold
// is known before the allowance is measured.
func startupCap(lang *Language) time.Duration {
	if lang.StartupCap > 0 {
		return lang.StartupCap
	}
	return 500 * time.Millisecond
}

// stopAt is the CPU time at which a run of lang under limit is stopped.
func (j *Judge) stopAt(limit time.Duration, lang *Language) time.Duration {
	return time.Duration(float64(limit+startupCap(lang)) * (1 + j.cfg.RerunMargin))
}

// startup returns lang's start-up allowance, measuring it if it is not
// known or too old. Concurrent callers share one measure.
func (j *Judge) startup(ctx context.Context, lang *Language) (time.Duration, error) {
	j.calMu.Lock()
	if c, ok := j.calibrated[lang.ID]; ok && time.Since(c.at) < calibrationTTL {
		j.calMu.Unlock()
		return c.cpu, nil
	}
	mu, ok := j.calibrating[lang.ID]
	if !ok {
		mu = &sync.Mutex{}
		j.calibrating[lang.ID] = mu
	}
	j.calMu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	j.calMu.Lock()
	c, ok := j.calibrated[lang.ID]
	j.calMu.Unlock()
	if ok && time.Since(c.at) < calibrationTTL {
		return c.cpu, nil
	}
	cpu, err := j.calibrate(ctx, lang)
	if err != nil {
		return 0, fmt.Errorf("measure %s's start-up: %w", lang.ID, err)
	}
	j.calMu.Lock()
	j.calibrated[lang.ID] = calibration{cpu: cpu, at: time.Now()}
	j.calMu.Unlock()
	return cpu, nil
}

// calibrate runs lang's empty program as a submission would run and
// returns its smallest CPU time, at most startupCap(lang).
func (j *Judge) calibrate(ctx context.Context, lang *Language) (time.Duration, error) {
	if lang.Empty == nil {
		return 0, nil
	}
	prog, err := j.compile(ctx, lang, []byte(*lang.Empty), nil)
	if err != nil {
		return 0, err
	}
	defer j.cache.release(prog.key)
	if !prog.OK {
		return 0, fmt.Errorf("the empty program does not compile: %s", clip(prog.Output, 300))
	}
	p := &Problem{TimeLimit: 10 * time.Second, Memory: 256 << 20, Output: 1 << 20}
	best := time.Duration(-1)
	for range calibrationRuns {
		r, err := j.run(ctx, j.programSpec(p, prog))
		if err != nil {
			return 0, err
		}
		if r.ExitCode != 0 || r.Signal != 0 {
			return 0, fmt.Errorf("the empty program failed (exit %d, %s): %s", r.ExitCode, sandbox.SignalName(r.Signal), clip(string(r.Stderr), 300))
		}
		if best < 0 || r.CPUTime < best {
			best = r.CPUTime
		}
	}
	return min(best, startupCap(lang)), nil
}

// Startup reports the start-up allowances measured so far, by language.
func (j *Judge) Startup() map[string]time.Duration {
	j.calMu.Lock()
	defer j.calMu.Unlock()
	out := map[string]time.Duration{}
	for id, c := range j.calibrated {
		out[id] = c.cpu
	}
	return out
}

// runTest runs one test, again while it is over its time limit by no more
// than the margin (at most Config.Reruns times), and keeps its best run.
func (j *Judge) runTest(ctx context.Context, p *Problem, prog, validator *compiled, t Test, keep int) (*TestResult, error) {
	var best *TestResult
	for attempt := 0; ; attempt++ {
		tr, err := j.runTestOnce(ctx, p, prog, validator, t, keep)
		if err != nil {
			return nil, err
		}
		if best == nil || tr.CPUMillis < best.CPUMillis {
			best = tr
		}
		if !j.borderline(p, best) || attempt == j.cfg.Reruns {
			best.Reruns = attempt
			return best, nil
		}
	}
}

// borderline: a TLE by CPU time within the re-run margin.
func (j *Judge) borderline(p *Problem, tr *TestResult) bool {
	if tr.Verdict != TimeLimitExceeded || tr.cpuStopped || tr.WallMillis >= j.cfg.WallLimit(p.TimeLimit).Milliseconds() {
		return false
	}
	counted := time.Duration(tr.CPUMillis-tr.StartupMillis) * time.Millisecond
	return counted <= time.Duration(float64(p.TimeLimit)*(1+j.cfg.RerunMargin))
}

// overLimit decides a run's CPU time: whether it is over the limit once
// its language's start-up allowance is taken off, measuring that
// allowance if it is needed and not known.
func (j *Judge) overLimit(ctx context.Context, p *Problem, lang *Language, r *sandbox.Result, tr *TestResult) (bool, error) {
	if r.CPUTime <= p.TimeLimit && !r.CPUExceeded {
		return false, nil
	}
	tr.cpuStopped = r.CPUExceeded
	if r.CPUExceeded {
		return true, nil
	}
	allowance, err := j.startup(ctx, lang)
	if err != nil {
		return false, err
	}
	tr.StartupMillis = allowance.Milliseconds()
	return r.CPUTime-allowance > p.TimeLimit, nil
}

// openInput opens a test's input for a run.
func openInput(t Test) (*os.File, error) {
	return os.Open(t.Input)
}
