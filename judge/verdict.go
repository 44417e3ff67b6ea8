package judge

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/codequest-dev/codequest/sandbox"
)

// Verdict is the outcome of a submission or of one test.
type Verdict string

// The verdicts.
const (
	Accepted            Verdict = "ACCEPTED"
	WrongAnswer         Verdict = "WRONG_ANSWER"
	TimeLimitExceeded   Verdict = "TIME_LIMIT_EXCEEDED"
	MemoryLimitExceeded Verdict = "MEMORY_LIMIT_EXCEEDED"
	OutputLimitExceeded Verdict = "OUTPUT_LIMIT_EXCEEDED"
	RuntimeError        Verdict = "RUNTIME_ERROR"
	CompilationError    Verdict = "COMPILATION_ERROR"
	InternalError       Verdict = "INTERNAL_ERROR"
)

// Short is the two- or three-letter code (AC, WA, TLE, MLE, OLE, RTE, CE, IE).
func (v Verdict) Short() string {
	switch v {
	case Accepted:
		return "AC"
	case WrongAnswer:
		return "WA"
	case TimeLimitExceeded:
		return "TLE"
	case MemoryLimitExceeded:
		return "MLE"
	case OutputLimitExceeded:
		return "OLE"
	case RuntimeError:
		return "RTE"
	case CompilationError:
		return "CE"
	case InternalError:
		return "IE"
	}
	return string(v)
}

// VerdictForFolder maps a submissions/<folder> name to the verdict it
// names; ok is false for folders that name no single verdict.
func VerdictForFolder(folder string) (Verdict, bool) {
	switch folder {
	case "accepted":
		return Accepted, true
	case "wrong_answer":
		return WrongAnswer, true
	case "time_limit_exceeded":
		return TimeLimitExceeded, true
	case "run_time_error", "runtime_error":
		return RuntimeError, true
	case "memory_limit_exceeded":
		return MemoryLimitExceeded, true
	case "output_limit_exceeded":
		return OutputLimitExceeded, true
	case "compile_error", "compilation_error":
		return CompilationError, true
	}
	return "", false
}

// TestResult is the outcome of one test case.
type TestResult struct {
	// Name is the test's path below data/, without extension (sample/01).
	Name    string  `json:"name"`
	Verdict Verdict `json:"verdict"`
	// CPUMillis is user+system CPU time of the program's whole tree.
	CPUMillis int64 `json:"cpu_ms"`
	// UserMillis is the user part of CPUMillis.
	UserMillis int64 `json:"user_ms"`
	WallMillis int64 `json:"wall_ms"`
	// MemoryKiB is the peak resident memory of the program's tree.
	MemoryKiB int64 `json:"memory_kib"`
	// ExitCode is the program's exit status, or -1 if a signal ended it.
	ExitCode int    `json:"exit_code"`
	Signal   string `json:"signal,omitempty"`
	// Message is the judge's short explanation: what it measured (exit
	// code, signal, time, memory), never what the program wrote or what
	// the test holds, so it may be shown to the submitter.
	Message string `json:"message,omitempty"`
	// Detail is for the problem's editors only: the tail of the program's
	// stderr, where its output first differs from the answer, the
	// validator's feedback. It quotes the test; it never leaves the full
	// report.
	Detail string `json:"detail,omitempty"`
	// StartupMillis is the start-up allowance taken off CPUMillis to
	// decide TLE, when the run came near its limit (judge/timing.go).
	StartupMillis int64 `json:"startup_ms,omitempty"`
	// Reruns counts the runs again of a test over its limit by a small
	// margin; the best run is the one reported.
	Reruns int `json:"reruns,omitempty"`
	// cpuStopped: the run was stopped at its CPU threshold (no re-run).
	cpuStopped bool
	// Output is the start of the program's standard output, kept only
	// when asked (Options.KeepOutput: runs on custom input).
	Output string `json:"output,omitempty"`
}

// Result is the outcome of judging one submission.
type Result struct {
	Problem  string  `json:"problem"`
	Language string  `json:"language"`
	Verdict  Verdict `json:"verdict"`
	// Message explains an INTERNAL_ERROR or summarises the first failure.
	Message string `json:"message,omitempty"`
	// CompileOutput is the compiler's output (kept for COMPILATION_ERROR,
	// trimmed to 64 KiB).
	CompileOutput string `json:"compile_output,omitempty"`
	CompileMillis int64  `json:"compile_ms"`
	// CompileCached: the compiled program came from the cache.
	CompileCached bool         `json:"compile_cached"`
	Tests         []TestResult `json:"tests"`
	// Passed counts accepted tests; Total counts the problem's tests (the
	// ones not run after a failure included).
	Passed        int   `json:"passed"`
	Total         int   `json:"total"`
	MaxCPUMillis  int64 `json:"max_cpu_ms"`
	MaxWallMillis int64 `json:"max_wall_ms"`
	PeakMemoryKiB int64 `json:"peak_memory_kib"`
	// TimeLimitMillis is the CPU time limit per test the tests ran under.
	TimeLimitMillis int64          `json:"time_limit_ms"`
	Isolation       sandbox.Layers `json:"isolation"`
}

// Compact is the small form of a Result, for a Kubernetes termination
// message (at most 4 KiB with MarshalCompact).
type Compact struct {
	Verdict       Verdict `json:"v"`
	Passed        int     `json:"p"`
	Total         int     `json:"t"`
	MaxCPUMillis  int64   `json:"cpu"`
	PeakMemoryKiB int64   `json:"mem"`
	// Failed is the first test that was not accepted.
	Failed  string `json:"f,omitempty"`
	Message string `json:"m,omitempty"`
	// Tests lists each test as "VERDICT cpu_ms mem_kib", in order.
	Tests []string `json:"r,omitempty"`
	// More is set when Tests was cut to fit.
	More bool `json:"more,omitempty"`
	// Output is the program's output of a run on custom input.
	Output string `json:"o,omitempty"`
}

// Compact returns the compact form.
func (r *Result) Compact() Compact {
	c := Compact{
		Verdict: r.Verdict, Passed: r.Passed, Total: r.Total,
		MaxCPUMillis: r.MaxCPUMillis, PeakMemoryKiB: r.PeakMemoryKiB,
		Message: clip(r.Message, 300),
	}
	for _, t := range r.Tests {
		if c.Failed == "" && t.Verdict != Accepted {
			c.Failed = t.Name
			if c.Message == "" {
				c.Message = clip(t.Message, 300)
			}
		}
		c.Tests = append(c.Tests, fmt.Sprintf("%s %d %d", t.Verdict.Short(), t.CPUMillis, t.MemoryKiB))
	}
	if c.Message == "" && r.Verdict == CompilationError {
		c.Message = clip(r.CompileOutput, 1000)
	}
	if len(r.Tests) == 1 {
		c.Output = r.Tests[0].Output
	}
	return c
}

// MarshalCompact encodes the compact form in at most max bytes, dropping
// per-test entries from the end (and setting More) as needed.
func (r *Result) MarshalCompact(max int) ([]byte, error) {
	c := r.Compact()
	for {
		b, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		if len(b) <= max {
			return b, nil
		}
		switch {
		case len(c.Tests) > 0:
			c.Tests = c.Tests[:len(c.Tests)/2]
			c.More = true
		case len(c.Output) > 0:
			c.Output = clip(c.Output, len(c.Output)/2)
			c.More = true
		case len(c.Message) > 40:
			c.Message = clip(c.Message, len(c.Message)/2)
		default:
			return nil, fmt.Errorf("compact result does not fit in %d bytes", max)
		}
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return strings.TrimRight(s, "\n") + "…"
}
