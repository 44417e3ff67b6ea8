// Package judge compiles a submission, runs it on every test of a Kattis /
// ICPC problem package in the sandbox, checks the output (Kattis default
// comparison, custom or interactive validators, themselves sandboxed) and
// gives verdicts.
package judge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
	mu       sync.Mutex
	versions map[string]string
	pchOnce  sync.Once
	pchErr   error
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
	if c.FileSize == 0 {
		c.FileSize = 1 << 30
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
	return &Judge{cfg: cfg, versions: map[string]string{}}, nil
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

func (j *Judge) env(lang *Language) []string {
	env := []string{basePath, "HOME=/nonexistent", "LANG=C.UTF-8", "TMPDIR=/tmp"}
	return append(env, lang.Env...)
}

// stage writes src where runs can read it before its check is done (a
// check-only language), and returns it as a program with its cleanup.
func (j *Judge) stage(lang *Language, src []byte) (*compiled, func(), error) {
	dir, err := os.MkdirTemp(filepath.Join(j.cfg.CacheDir, "tmp"), "staged-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	srcName, main := lang.Source(src)
	if err := os.WriteFile(filepath.Join(dir, srcName), src, 0o644); err != nil {
		cleanup()
		return nil, nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		cleanup()
		return nil, nil, err
	}
	return &compiled{lang: lang, Dir: dir, Src: srcName, Main: main, OK: true}, cleanup, nil
}

// compile builds src (and, for validators, the other files of extraDir),
// using the artifact cache keyed by language, toolchain version, compile
// command and source.
func (j *Judge) compile(ctx context.Context, lang *Language, src []byte, extraDir *string) (*compiled, error) {
	version, err := j.Version(ctx, lang)
	if err != nil {
		return nil, err
	}
	srcName, main := lang.Source(src)
	h := sha256.New()
	// The key holds the compile command too: a changed recipe is a miss.
	fmt.Fprintf(h, "%s\x00%s\x00%q\x00%s\x00%d\x00", lang.ID, version, lang.Compile, srcName, len(src))
	h.Write(src)
	var extras []string
	if extraDir != nil {
		entries, err := os.ReadDir(*extraDir)
		if err != nil {
			return nil, fmt.Errorf("read validator: %w", err)
		}
		for _, e := range entries {
			if !e.IsDir() {
				b, err := os.ReadFile(filepath.Join(*extraDir, e.Name()))
				if err != nil {
					return nil, err
				}
				fmt.Fprintf(h, "\x00%s\x00%d\x00", e.Name(), len(b))
				h.Write(b)
				extras = append(extras, e.Name())
			}
		}
	}
	key := hex.EncodeToString(h.Sum(nil))[:32]
	final := filepath.Join(j.cfg.CacheDir, "artifacts", lang.ID, key)
	if b, err := os.ReadFile(filepath.Join(final, ".result.json")); err == nil {
		c := &compiled{lang: lang}
		if json.Unmarshal(b, c) == nil {
			c.Dir, c.Cached = final, true
			return c, nil
		}
	}

	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(filepath.Dir(final), "build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	uid := j.cfg.Sandbox.CompileUID()
	for _, name := range extras {
		b, _ := os.ReadFile(filepath.Join(*extraDir, name))
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, srcName), src, 0o644); err != nil {
		return nil, err
	}
	if err := chownTree(dir, uid); err != nil {
		return nil, err
	}
	os.Chmod(dir, 0o755)
	c := &compiled{lang: lang, Src: srcName, Main: main, OK: true}
	if lang.Compile != nil {
		binds := []sandbox.Bind{{Source: dir, Target: Box, Writable: true}}
		for _, b := range lang.Binds {
			binds = append(binds, sandbox.Bind{Source: b, Target: b})
		}
		if lang.ID == "cpp" {
			pch, err := j.pch(ctx, lang)
			if err != nil {
				return nil, err
			}
			binds = append(binds, sandbox.Bind{Source: pch, Target: "/pch"})
		}
		if lang.CompileCache {
			gc := filepath.Join(j.cfg.CacheDir, "gocache")
			os.Chown(gc, uid, uid)
			binds = append(binds, sandbox.Bind{Source: gc, Target: "/cache", Writable: true})
		}
		start := time.Now()
		r, err := j.run(ctx, sandbox.Spec{
			Args: expand(lang.Compile, srcName, main, 0), Env: j.env(lang), Dir: Box,
			Binds: binds, UID: uid, TmpSize: 1 << 30, Limits: j.cfg.Compile,
		})
		if err != nil {
			return nil, fmt.Errorf("compile: %w", err)
		}
		c.Millis = time.Since(start).Milliseconds()
		c.Output = string(r.Stdout) + string(r.Stderr)
		switch {
		case r.CPUExceeded || r.WallExceeded:
			c.OK, c.Output = false, c.Output+"\ncompiler time limit exceeded"
		case r.OOMKilled || r.MemoryExceeded:
			c.OK, c.Output = false, c.Output+"\ncompiler memory limit exceeded"
		case r.ExitCode != 0:
			c.OK = false
			if r.Signal != 0 {
				c.Output += "\ncompiler killed by " + sandbox.SignalName(r.Signal)
			}
		}
	}
	b, _ := json.Marshal(c)
	if err := os.WriteFile(filepath.Join(dir, ".result.json"), b, 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(dir, final); err != nil {
		// A concurrent compile of the same source won: use its result.
		if _, statErr := os.Stat(filepath.Join(final, ".result.json")); statErr != nil {
			return nil, fmt.Errorf("store compiled program: %w", err)
		}
	}
	c.Dir = final
	return c, nil
}

// pch builds the precompiled <bits/stdc++.h> once per g++ version.
func (j *Judge) pch(ctx context.Context, lang *Language) (string, error) {
	version, err := j.Version(ctx, lang)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(j.cfg.CacheDir, "pch", strings.ReplaceAll(version, "/", "_"))
	j.pchOnce.Do(func() {
		gch := filepath.Join(dir, "bits", "stdc++.h.gch")
		if _, err := os.Stat(gch); err == nil {
			return
		}
		headers, _ := filepath.Glob("/usr/include/x86_64-linux-gnu/c++/*/bits/stdc++.h")
		if len(headers) == 0 {
			// No header to precompile: compile without one.
			os.MkdirAll(dir, 0o755)
			return
		}
		sort.Strings(headers)
		tmp, err := os.MkdirTemp(filepath.Dir(dir), "build-")
		if err != nil {
			j.pchErr = err
			return
		}
		defer os.RemoveAll(tmp)
		os.MkdirAll(filepath.Join(tmp, "bits"), 0o755)
		chownTree(tmp, j.cfg.Sandbox.CompileUID())
		r, err := j.run(ctx, sandbox.Spec{
			Args: []string{lang.Compile[0], "-std=gnu++17", "-O2", "-x", "c++-header", headers[len(headers)-1],
				"-o", "/pch/bits/stdc++.h.gch"},
			Env: j.env(lang), Dir: "/pch", UID: j.cfg.Sandbox.CompileUID(), TmpSize: 1 << 30,
			Binds:  []sandbox.Bind{{Source: tmp, Target: "/pch", Writable: true}},
			Limits: j.cfg.Compile,
		})
		if err != nil || r.ExitCode != 0 {
			j.pchErr = fmt.Errorf("precompile bits/stdc++.h: %v %s", err, r.Stderr)
			return
		}
		os.RemoveAll(dir)
		os.Chmod(tmp, 0o755)
		j.pchErr = os.Rename(tmp, dir)
	})
	return dir, j.pchErr
}

// compileValidator compiles the validator in dir with the language of its
// main source file (validate.* first).
func (j *Judge) compileValidator(ctx context.Context, dir string) (*compiled, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read validator: %w", err)
	}
	var pick string
	var lang *Language
	for _, e := range entries {
		l, ok := LanguageByExt(j.cfg.Languages, e.Name())
		if !ok || e.IsDir() {
			continue
		}
		if pick == "" || strings.HasPrefix(e.Name(), "validate") {
			pick, lang = e.Name(), l
		}
	}
	if pick == "" {
		return nil, fmt.Errorf("validator %s: no source file in a known language", dir)
	}
	src, err := os.ReadFile(filepath.Join(dir, pick))
	if err != nil {
		return nil, err
	}
	c, err := j.compile(ctx, lang, src, &dir)
	if err != nil {
		return nil, err
	}
	if !c.OK {
		return nil, fmt.Errorf("validator %s does not compile: %s", dir, clip(c.Output, 500))
	}
	return c, nil
}

func expand(args []string, src, main string, memMiB int64) []string {
	out := make([]string, len(args))
	for i, a := range args {
		a = strings.ReplaceAll(a, "{src}", src)
		a = strings.ReplaceAll(a, "{main}", main)
		a = strings.ReplaceAll(a, "{mem}", strconv.FormatInt(memMiB, 10))
		out[i] = a
	}
	return out
}

func chownTree(dir string, uid int) error {
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	})
}

// programSpec is how a compiled program runs on problem p.
func (j *Judge) programSpec(p *Problem, prog *compiled) sandbox.Spec {
	binds := []sandbox.Bind{{Source: prog.Dir, Target: Box}}
	for _, b := range prog.lang.Binds {
		binds = append(binds, sandbox.Bind{Source: b, Target: b})
	}
	return sandbox.Spec{
		Args:    expand(prog.lang.Run, prog.Src, prog.Main, p.Memory>>20),
		Env:     j.env(prog.lang),
		Binds:   binds,
		Network: prog.net,
		Limits: sandbox.Limits{
			CPUTime: p.TimeLimit, WallTime: j.cfg.WallLimit(p.TimeLimit),
			Memory: p.Memory + prog.lang.MemoryOverhead, Output: p.Output, Processes: 128,
			Stack: p.Memory,
		},
	}
}

// runTest runs one test and checks it.
func (j *Judge) runTest(ctx context.Context, p *Problem, prog, validator *compiled, t Test, keep int) (*TestResult, error) {
	if p.Validation == ValidationInteractive {
		return j.runInteractive(ctx, p, prog, validator, t)
	}
	in, err := os.Open(t.Input)
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
	if v, msg := classify(p, prog.lang, r); v != "" {
		tr.Verdict, tr.Message = v, msg
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
		ok, msg := Compare(ans, r.Stdout, opts)
		tr.Verdict, tr.Message = Accepted, ""
		if !ok {
			tr.Verdict, tr.Message = WrongAnswer, msg
		}
		return tr, nil
	}
	v, msg, err := j.runValidator(ctx, p, validator, t, flags, r.Stdout)
	if err != nil {
		return nil, err
	}
	tr.Verdict, tr.Message = v, msg
	return tr, nil
}

func measure(t Test, r *sandbox.Result) *TestResult {
	return &TestResult{
		Name: t.Name, CPUMillis: r.CPUTime.Milliseconds(), WallMillis: r.WallTime.Milliseconds(),
		MemoryKiB: r.PeakMemory >> 10, ExitCode: r.ExitCode, Signal: sandbox.SignalName(r.Signal),
	}
}

// classify applies TLE, MLE, OLE, RTE in that order; "" means the run
// ended normally and its output is to be checked.
func classify(p *Problem, lang *Language, r *sandbox.Result) (Verdict, string) {
	switch {
	case r.WallExceeded:
		return TimeLimitExceeded, fmt.Sprintf("wall-clock limit %s exceeded", r.WallTime.Round(time.Millisecond))
	case r.CPUExceeded || r.CPUTime > p.TimeLimit:
		return TimeLimitExceeded, fmt.Sprintf("CPU time %s over the limit %s", r.CPUTime.Round(time.Millisecond), p.TimeLimit)
	case r.OOMKilled || r.MemoryExceeded || (r.Signal == syscall.SIGKILL && r.PeakMemory > p.Memory):
		// The cgroup (or the resident-memory poll) enforces the limit on
		// the memory the run owns; file pages shared with the host's page
		// cache count in the reported peak but are not charged, so a peak
		// over the limit alone (a JVM's JIT arenas) is not MLE.
		return MemoryLimitExceeded, fmt.Sprintf("peak memory %d MiB, limit %d MiB", r.PeakMemory>>20, p.Memory>>20)
	case r.ExitCode != 0 && lang.MemoryError != "" && strings.Contains(string(r.Stderr), lang.MemoryError):
		return MemoryLimitExceeded, lastLine(r.Stderr)
	case r.OutputExceeded:
		return OutputLimitExceeded, fmt.Sprintf("more than %d MiB of output", p.Output>>20)
	case r.Signal != 0:
		return RuntimeError, "killed by " + sandbox.SignalName(r.Signal) + stderrTail(r.Stderr)
	case r.ExitCode != 0:
		return RuntimeError, fmt.Sprintf("exit code %d", r.ExitCode) + stderrTail(r.Stderr)
	}
	return "", ""
}

func stderrTail(b []byte) string {
	if l := lastLine(b); l != "" {
		return ": " + l
	}
	return ""
}

func lastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return clip(s, 200)
}

// validatorRun prepares a validator's sandbox spec for test t.
func (j *Judge) validatorSpec(p *Problem, v *compiled, t Test, flags []string, feedback string) sandbox.Spec {
	binds := []sandbox.Bind{
		{Source: v.Dir, Target: Box},
		{Source: t.Input, Target: "/judge/input"},
		{Source: t.Answer, Target: "/judge/answer"},
		{Source: feedback, Target: "/judge/feedback", Writable: true},
	}
	for _, b := range v.lang.Binds {
		binds = append(binds, sandbox.Bind{Source: b, Target: b})
	}
	args := expand(v.lang.Run, v.Src, v.Main, 1024)
	args = append(args, "/judge/input", "/judge/answer", "/judge/feedback/")
	args = append(args, flags...)
	wall := j.cfg.WallLimit(p.TimeLimit) + 10*time.Second
	return sandbox.Spec{
		Args: args, Env: j.env(v.lang), Binds: binds, UID: j.cfg.Sandbox.CompileUID(),
		Limits: sandbox.Limits{CPUTime: wall, WallTime: wall, Memory: 1 << 30, Processes: 128, Output: 8 << 20},
	}
}

func feedbackDir(cache string) (string, error) {
	d, err := os.MkdirTemp(filepath.Join(cache, "tmp"), "feedback-")
	if err != nil {
		return "", err
	}
	return d, os.Chmod(d, 0o777)
}

func readFeedback(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "judgemessage.txt"))
	return clip(strings.TrimSpace(string(b)), 300)
}

// validatorVerdict maps a validator's exit to a verdict (42 AC, 43 WA).
func validatorVerdict(r *sandbox.Result, feedback string) (Verdict, string) {
	msg := readFeedback(feedback)
	switch {
	case r.Signal == 0 && r.ExitCode == 42:
		return Accepted, msg
	case r.Signal == 0 && r.ExitCode == 43:
		return WrongAnswer, msg
	}
	how := fmt.Sprintf("exit code %d", r.ExitCode)
	if r.Signal != 0 {
		how = "killed by " + sandbox.SignalName(r.Signal)
	}
	return InternalError, fmt.Sprintf("validator failed (%s): %s%s", how, msg, stderrTail(r.Stderr))
}

func (j *Judge) runValidator(ctx context.Context, p *Problem, v *compiled, t Test, flags []string, team []byte) (Verdict, string, error) {
	fb, err := feedbackDir(j.cfg.CacheDir)
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(fb)
	teamFile, err := os.CreateTemp(filepath.Join(j.cfg.CacheDir, "tmp"), "team-")
	if err != nil {
		return "", "", err
	}
	defer os.Remove(teamFile.Name())
	defer teamFile.Close()
	if _, err := teamFile.Write(team); err != nil {
		return "", "", err
	}
	if _, err := teamFile.Seek(0, io.SeekStart); err != nil {
		return "", "", err
	}
	spec := j.validatorSpec(p, v, t, flags, fb)
	spec.Stdin = teamFile
	r, err := j.run(ctx, spec)
	if err != nil {
		return "", "", fmt.Errorf("run validator: %w", err)
	}
	verdict, msg := validatorVerdict(r, fb)
	return verdict, msg, nil
}

// runInteractive wires the program and the interactor together, each in
// its own sandbox.
func (j *Judge) runInteractive(ctx context.Context, p *Problem, prog, v *compiled, t Test) (*TestResult, error) {
	fb, err := feedbackDir(j.cfg.CacheDir)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(fb)
	toInterR, toInterW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	toProgR, toProgW, err := os.Pipe()
	if err != nil {
		toInterR.Close()
		toInterW.Close()
		return nil, err
	}
	ps := j.programSpec(p, prog)
	ps.Stdin, ps.Stdout, ps.CloseFiles = toProgR, toInterW, true
	vs := j.validatorSpec(p, v, t, p.ValidatorFlags, fb)
	vs.Stdin, vs.Stdout, vs.CloseFiles = toInterR, toProgW, true

	var wg sync.WaitGroup
	var pr, vr *sandbox.Result
	var perr, verr error
	wg.Add(2)
	go func() { defer wg.Done(); pr, perr = j.run(ctx, ps) }()
	go func() { defer wg.Done(); vr, verr = j.run(ctx, vs) }()
	wg.Wait()
	for _, f := range []*os.File{toInterR, toInterW, toProgR, toProgW} {
		f.Close()
	}
	if perr != nil {
		return nil, perr
	}
	if verr != nil {
		return nil, fmt.Errorf("run interactor: %w", verr)
	}
	tr := measure(t, pr)
	vv, vmsg := validatorVerdict(vr, fb)
	if vv == WrongAnswer && vr.Ended.Before(pr.Ended) {
		tr.Verdict, tr.Message = WrongAnswer, vmsg
		return tr, nil
	}
	if v, msg := classify(p, prog.lang, pr); v != "" {
		tr.Verdict, tr.Message = v, msg
		return tr, nil
	}
	if vv == InternalError && (vr.WallExceeded || vr.CPUExceeded) {
		return tr, fmt.Errorf("interactor timed out")
	}
	tr.Verdict, tr.Message = vv, vmsg
	return tr, nil
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
