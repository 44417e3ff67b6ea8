// Package judge compiles a submission, runs it on every test of a Kattis /
// ICPC problem package in the sandbox, checks the output (Kattis default
// comparison, custom or interactive validators, themselves sandboxed) and
// gives verdicts.
package judge

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codequest-dev/codequest/sandbox"
)

// Runner is the sandbox as the judge uses it.
type Runner interface {
	Run(ctx context.Context, spec sandbox.Spec) (*sandbox.Result, error)
	CompileUID() int
	Layers() sandbox.Layers
	NewNetwork() (*sandbox.Network, error)
}

// Config configures a Judge.
type Config struct {
	Sandbox   Runner
	Languages []*Language
	// CacheDir holds compiled artifacts, the C++ precompiled header and Go's
	// build cache.
	CacheDir string
	// WallLimit gives the wall-clock limit for a CPU limit (default
	// WallLimit: 3 × cpu + 5 s).
	WallLimit func(cpu time.Duration) time.Duration
	// Compile bounds every compile (defaults: 60 s CPU, 2 GiB, 256 tasks).
	Compile sandbox.Limits
	// Warm is a read-only folder of prebuilt caches (warm.go), or "".
	Warm string
	// CompileOutput bounds what a compile writes: its folder and each file
	// (default 32 MiB; a legitimate program is a few MiB, but an
	// initialised array makes a 600-byte source a 100 MiB executable).
	CompileOutput int64
	// CacheLimit bounds the compiled programs kept, and Go's build cache,
	// each (default 2 GiB).
	CacheLimit int64
	// Reruns bounds the runs again of a test over its time limit by at
	// most RerunMargin (a fraction of the limit): the best run counts
	// (defaults 2 and 0.5; Reruns < 0: none). See timing.go.
	Reruns      int
	RerunMargin float64
	// Parallel is how many tests of one judging run at once (default 1).
	// Each run has its own sandbox, limits and CPU-time account, so a
	// verdict does not depend on it: results and progress come in test
	// order, and judging stops at the first failing test in that order.
	Parallel int
}

// DefaultParallel is Config.Parallel for a judge that has this process's
// CPUs to itself: one more test than CPUs, so that no CPU idles while a
// run's sandbox is set up or torn down (measured: 20 Python tests on 2 CPUs
// take ~10% less than two at a time).
func DefaultParallel() int { return runtime.GOMAXPROCS(0) + 1 }

// Judge judges submissions. It is safe for concurrent use.
type Judge struct {
	cfg      Config
	cache    *artifactCache
	mu       sync.Mutex
	versions map[string]string
	pchOnce  sync.Once
	pchErr   error
	// goCache is held for reading by Go compiles and for writing while
	// Go's build cache is trimmed.
	goCache   sync.RWMutex
	goTrimmed atomic.Int64 // unix time of the last trim
	// Start-up allowances by language (timing.go), and the lock of each
	// language's measure.
	calMu       sync.Mutex
	calibrated  map[string]calibration
	calibrating map[string]*sync.Mutex
}

// New returns a Judge.
func New(cfg Config) (*Judge, error) {
	if cfg.Sandbox == nil {
		return nil, errors.New("judge: no sandbox")
	}
	if cfg.Languages == nil {
		cfg.Languages = Languages(DefaultToolchains())
	}
	if cfg.CacheDir == "" {
		return nil, errors.New("judge: no cache folder")
	}
	if cfg.WallLimit == nil {
		cfg.WallLimit = WallLimit
	}
	c := &cfg.Compile
	if c.CPUTime == 0 {
		c.CPUTime = 60 * time.Second
	}
	if c.WallTime == 0 {
		c.WallTime = 3 * c.CPUTime
	}
	if c.Memory == 0 {
		c.Memory = 2 << 30
	}
	if c.Processes == 0 {
		c.Processes = 256
	}
	if cfg.Reruns == 0 {
		cfg.Reruns = 2
	}
	cfg.Reruns = max(cfg.Reruns, 0)
	if cfg.RerunMargin == 0 {
		cfg.RerunMargin = 0.5
	}
	if cfg.CompileOutput == 0 {
		cfg.CompileOutput = 32 << 20
	}
	if cfg.CacheLimit == 0 {
		cfg.CacheLimit = 2 << 30
	}
	if c.Output == 0 {
		c.Output = 1 << 20
	}
	if c.OpenFiles == 0 {
		c.OpenFiles = 1024
	}
	if c.Stack == 0 {
		c.Stack = 64 << 20
	}
	for _, d := range []string{"artifacts", "gocache", "pch", "tmp"} {
		if err := os.MkdirAll(filepath.Join(cfg.CacheDir, d), 0o755); err != nil {
			return nil, fmt.Errorf("judge cache: %w", err)
		}
	}
	cache, err := newArtifactCache(filepath.Join(cfg.CacheDir, "artifacts"), cfg.CacheLimit)
	if err != nil {
		return nil, err
	}
	j := &Judge{cfg: cfg, cache: cache, versions: map[string]string{},
		calibrated: map[string]calibration{}, calibrating: map[string]*sync.Mutex{}}
	if err := j.seedGoCache(); err != nil {
		return nil, err
	}
	return j, nil
}

// Languages is the judge's languages table.
func (j *Judge) Languages() []*Language { return j.cfg.Languages }

// Version is the toolchain version of l, asked once per Judge.
func (j *Judge) Version(ctx context.Context, l *Language) (string, error) {
	j.mu.Lock()
	v, ok := j.versions[l.ID]
	j.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := ToolchainVersion(ctx, l)
	if err != nil {
		return "", err
	}
	j.mu.Lock()
	j.versions[l.ID] = v
	j.mu.Unlock()
	return v, nil
}

// Progress is reported while judging.
type Progress struct {
	Phase string // "compiling", "running", "done"
	Test  int    // 1-based index of the test being run or just finished
	Total int
	// Result is the finished test (Phase "running" with a result) or nil.
	Result *TestResult
}

// Options tune one judging.
type Options struct {
	// All runs every test instead of stopping at the first failure.
	All bool
	// Progress, if set, is called as judging advances.
	Progress func(Progress)
	// KeepOutput keeps up to this many bytes of each test's standard
	// output in its result (for runs on custom input).
	KeepOutput int
}

// compiled is a program ready to run.
type compiled struct {
	lang *Language
	// net is the judging's network namespace, shared by the program's
	// runs (nil: one per run).
	net    *sandbox.Network
	Dir    string `json:"-"`
	OK     bool   `json:"ok"`
	Output string `json:"output"`
	Src    string `json:"src"`
	Main   string `json:"main"`
	Millis int64  `json:"millis"`
	Cached bool   `json:"-"`
	// Retries counts compiles stopped by the machine's load.
	Retries int `json:"retries,omitempty"`
	// key is the artifact cache's, released when the judging ends.
	key string
}

// Judge judges src, written in lang, on problem p.
func (j *Judge) Judge(ctx context.Context, p *Problem, lang *Language, src []byte, opts Options) (*Result, error) {
	res := &Result{Problem: p.Name, Language: lang.ID, Total: len(p.Tests), Isolation: j.cfg.Sandbox.Layers()}
	progress := func(pr Progress) {
		if opts.Progress != nil {
			pr.Total = len(p.Tests)
			opts.Progress(pr)
		}
	}
	if p.TimeLimit <= 0 {
		return nil, fmt.Errorf("problem %s has no time limit (set limits.time_limit or .timelimit, or call DeriveTimeLimit)", p.Name)
	}
	res.TimeLimitMillis = p.TimeLimit.Milliseconds()
	progress(Progress{Phase: "compiling"})
	// The program's runs share one network namespace: they are one
	// submitter's, and a namespace of their own each would cost more than
	// the rest of their isolation. Checkers and interactors get their own.
	network, err := j.cfg.Sandbox.NewNetwork()
	if err != nil {
		return nil, err
	}
	defer network.Close() // after the runs are stopped (deferred below)
	// A check-only compile overlaps the tests, which run on a copy of the
	// source; their results count only once the check passed.
	var runs *testRuns
	if lang.CheckOnly && p.Validation == ValidationDefault {
		staged, cleanup, err := j.stage(lang, src)
		if err != nil {
			return nil, err
		}
		defer cleanup()
		staged.net = network
		runs = j.startTests(ctx, p, staged, nil, opts.KeepOutput)
		defer runs.stop() // before cleanup: no run outlives its source
	}
	prog, err := j.compile(ctx, lang, src, nil)
	if err != nil {
		return nil, err
	}
	defer j.cache.release(prog.key)
	if lang.CompileCache && !prog.Cached {
		j.maybeTrimGoCache()
	}
	prog.net = network
	res.CompileMillis, res.CompileCached = prog.Millis, prog.Cached
	if !prog.OK {
		res.Verdict = CompilationError
		res.CompileOutput = clip(prog.Output, 64<<10)
		progress(Progress{Phase: "done"})
		return res, nil
	}
	if runs == nil {
		var validator *compiled
		if p.Validation != ValidationDefault {
			validator, err = j.compileValidator(ctx, p.ValidatorDir)
			if err != nil {
				return nil, err
			}
			defer j.cache.release(validator.key)
		}
		runs = j.startTests(ctx, p, prog, validator, opts.KeepOutput)
		defer runs.stop()
	}
	for i, t := range p.Tests {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		progress(Progress{Phase: "running", Test: i + 1})
		tr, err := runs.result(i)
		if err != nil {
			return nil, fmt.Errorf("test %s: %w", t.Name, err)
		}
		res.Tests = append(res.Tests, *tr)
		progress(Progress{Phase: "running", Test: i + 1, Result: tr})
		res.MaxCPUMillis = max(res.MaxCPUMillis, tr.CPUMillis)
		res.MaxWallMillis = max(res.MaxWallMillis, tr.WallMillis)
		res.PeakMemoryKiB = max(res.PeakMemoryKiB, tr.MemoryKiB)
		if tr.Verdict == Accepted {
			res.Passed++
			continue
		}
		if res.Verdict == "" {
			res.Verdict = tr.Verdict
			res.Message = fmt.Sprintf("%s on %s", tr.Verdict.Short(), t.Name)
			if tr.Message != "" {
				res.Message += ": " + tr.Message
			}
		}
		if !opts.All {
			break
		}
	}
	if res.Verdict == "" {
		res.Verdict = Accepted
	}
	progress(Progress{Phase: "done"})
	return res, nil
}

// maybeTrimGoCache trims Go's build cache at most every ten minutes, in
// the background.
func (j *Judge) maybeTrimGoCache() {
	now := time.Now().Unix()
	if last := j.goTrimmed.Load(); now-last < 600 || !j.goTrimmed.CompareAndSwap(last, now) {
		return
	}
	go j.trimGoCache()
}

func (j *Judge) env(lang *Language) []string {
	env := []string{basePath, "HOME=/nonexistent", "LANG=C.UTF-8", "TMPDIR=/tmp"}
	return append(env, lang.Env...)
}

// run runs spec in the sandbox. A run cut short because the judging itself
// was stopped (ctx ended) has no result: its kill is not the program's.
func (j *Judge) run(ctx context.Context, spec sandbox.Spec) (*sandbox.Result, error) {
	r, err := j.cfg.Sandbox.Run(ctx, spec)
	if err == nil && ctx.Err() != nil {
		return nil, fmt.Errorf("judging stopped: %w", context.Cause(ctx))
	}
	return r, err
}
