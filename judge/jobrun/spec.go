// Package jobrun is the judge's side of a judge Job: the spec the
// controller writes into the Job's Secret, the package download that is
// checked before any untrusted code runs, the progress lines the judge prints
// while it works, and the termination message it leaves.
package jobrun

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/codequest-dev/codequest/judge"
)

// SpecFile is the key of the spec in the Job's Secret, mounted read-only
// at SpecDir.
const (
	SpecFile = "spec.json"
	SpecDir  = "/run/codequest/spec"
	// TerminationLog is where the compact result is written (the pod's
	// terminationMessagePath).
	TerminationLog = "/dev/termination-log"
	// MaxTerminationMessage is the kubelet's bound on a termination message.
	MaxTerminationMessage = 4096
)

// Exit codes of `judge job`. A verdict of any kind (WRONG_ANSWER,
// COMPILATION_ERROR, ...) exits 0: only the judge's own failures do not.
const (
	ExitVerdict  = 0
	ExitInternal = 1 // judging failed: compact INTERNAL_ERROR written
	ExitPackage  = 3 // the package or source failed its checksum
	ExitUsage    = 2
	// ExitInterrupted: the judge was stopped (SIGTERM: the pod was
	// deleted, the node drained) before a verdict. The Job's pod failure
	// policy ignores it, so the judging starts again in a new pod.
	ExitInterrupted = 143
)

// Download is an object fetched over HTTP(S) with a presigned URL and
// checked against its size and SHA-256.
type Download struct {
	URL    string `json:"url"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Limits override the package's problem.yaml limits.
type Limits struct {
	TimeMillis  int64 `json:"timeMillis"`
	MemoryBytes int64 `json:"memoryBytes"`
	OutputBytes int64 `json:"outputBytes,omitempty"`
	// CompileMemoryBytes bounds a compile.
	CompileMemoryBytes int64 `json:"compileMemoryBytes,omitempty"`
}

// Spec is one judging, as the controller hands it to the pod.
type Spec struct {
	// Submission is namespace/name, for logs.
	Submission string `json:"submission"`
	Language   string `json:"language"`
	// Mode is "submit" or "run".
	Mode    string   `json:"mode"`
	Limits  Limits   `json:"limits"`
	Package Download `json:"package"`
	// Source is the program inline, or SourceObject when it lives in object
	// storage.
	Source       *string   `json:"source,omitempty"`
	SourceObject *Download `json:"sourceObject,omitempty"`
	// Input is a run's standard input.
	Input *string `json:"input,omitempty"`
	// ReportURL, if set, receives the full JSON report (HTTP PUT).
	ReportURL string `json:"reportURL,omitempty"`
}

// Validate reports what is missing from s.
func (s *Spec) Validate() error {
	switch {
	case s.Language == "":
		return fmt.Errorf("spec: no language")
	case s.Package.URL == "" || len(s.Package.SHA256) != 64:
		return fmt.Errorf("spec: no package URL and checksum")
	case (s.Source == nil) == (s.SourceObject == nil):
		return fmt.Errorf("spec: need exactly one of source and sourceObject")
	case s.Limits.TimeMillis <= 0 || s.Limits.MemoryBytes <= 0:
		return fmt.Errorf("spec: no limits")
	}
	return nil
}

// ProgressPrefix starts every progress line the judge prints on stdout.
const ProgressPrefix = "codequest-progress "

// Progress is one progress line.
type Progress struct {
	// Phase is "fetching", "compiling", "running" or "done".
	Phase string `json:"phase"`
	Test  int    `json:"test,omitempty"`
	Total int    `json:"total,omitempty"`
	// Verdict is the short verdict of the test just finished.
	Verdict string `json:"verdict,omitempty"`
	// Passed counts accepted tests so far.
	Passed int `json:"passed,omitempty"`
}

// Line renders p as a progress line (without newline).
func (p Progress) Line() string {
	b, _ := json.Marshal(p)
	return ProgressPrefix + string(b)
}

// LastProgress finds the last progress line in a log tail.
func LastProgress(log string) (Progress, bool) {
	lines := strings.Split(log, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		rest, ok := strings.CutPrefix(strings.TrimSpace(lines[i]), ProgressPrefix)
		if !ok {
			continue
		}
		var p Progress
		if json.Unmarshal([]byte(rest), &p) == nil {
			return p, true
		}
	}
	return Progress{}, false
}

// FromJudge turns the judge's progress callback into a Progress.
func FromJudge(pr judge.Progress, passed int) Progress {
	p := Progress{Phase: pr.Phase, Test: pr.Test, Total: pr.Total, Passed: passed}
	if pr.Result != nil {
		p.Verdict = pr.Result.Verdict.Short()
	}
	return p
}

// ParseCompact decodes a termination message.
func ParseCompact(msg string) (*judge.Compact, error) {
	var c judge.Compact
	if err := json.Unmarshal([]byte(msg), &c); err != nil {
		return nil, fmt.Errorf("parse compact result: %w", err)
	}
	if c.Verdict == "" {
		return nil, fmt.Errorf("parse compact result: no verdict")
	}
	return &c, nil
}
