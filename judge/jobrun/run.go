package jobrun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/codequest-dev/codequest/judge"
)

// Options configure Run.
type Options struct {
	// SpecPath is the spec file (default SpecDir/SpecFile).
	SpecPath string
	// WorkDir is a writable folder (the pod's emptyDir).
	WorkDir string
	// TerminationLog receives the compact result (default TerminationLog).
	TerminationLog string
	// NewJudge makes the judge once the spec is read.
	NewJudge func(ctx context.Context, spec *Spec) (Judger, func(), error)
	// HTTP fetches and uploads (default: a client with a 5 min timeout).
	HTTP *http.Client
	// Stdout receives progress lines; Stderr diagnostics.
	Stdout, Stderr io.Writer
}

// Run is `judge job`: read the spec, fetch and check the package (and the
// source, if it is in object storage) before anything is compiled, judge
// with progress lines on stdout, leave the compact result in the
// termination log and upload the full report. It returns the exit code.
func Run(ctx context.Context, o Options) int {
	if o.SpecPath == "" {
		o.SpecPath = filepath.Join(SpecDir, SpecFile)
	}
	if o.TerminationLog == "" {
		o.TerminationLog = TerminationLog
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 5 * time.Minute}
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	fail := func(code int, err error) int {
		if ctx.Err() != nil {
			// Stopped from outside: no verdict, and not the submission's
			// failure either.
			fmt.Fprintln(o.Stderr, "judge job: interrupted:", err)
			return ExitInterrupted
		}
		fmt.Fprintln(o.Stderr, "judge job:", err)
		r := judge.Result{Verdict: judge.InternalError, Message: err.Error()}
		writeResult(o, &r)
		return code
	}
	b, err := os.ReadFile(o.SpecPath)
	if err != nil {
		return fail(ExitUsage, fmt.Errorf("read spec: %w", err))
	}
	var spec Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return fail(ExitUsage, fmt.Errorf("parse spec: %w", err))
	}
	if err := spec.Validate(); err != nil {
		return fail(ExitUsage, err)
	}
	progress := func(p Progress) { fmt.Fprintln(o.Stdout, p.Line()) }

	progress(Progress{Phase: "fetching"})
	pkg, err := Fetch(ctx, o.HTTP, spec.Package)
	if err != nil {
		code := ExitInternal
		if errors.Is(err, ErrChecksum) {
			code = ExitPackage
		}
		return fail(code, fmt.Errorf("package: %w", err))
	}
	root, err := Unpack(bytes.NewReader(pkg), filepath.Join(o.WorkDir, "package"))
	if err != nil {
		return fail(ExitPackage, err)
	}
	var src []byte
	if spec.Source != nil {
		src = []byte(*spec.Source)
	} else if src, err = Fetch(ctx, o.HTTP, *spec.SourceObject); err != nil {
		code := ExitInternal
		if errors.Is(err, ErrChecksum) {
			code = ExitPackage
		}
		return fail(code, fmt.Errorf("source: %w", err))
	}

	j, closeJudge, err := o.NewJudge(ctx, &spec)
	if err != nil {
		return fail(ExitInternal, err)
	}
	defer closeJudge()
	scratch := filepath.Join(o.WorkDir, "run")
	if err := os.MkdirAll(scratch, 0o755); err != nil {
		return fail(ExitInternal, err)
	}
	res, err := Judge(ctx, j, Request{
		ProblemDir: root, Language: spec.Language, Source: src, Limits: spec.Limits,
		Input: spec.Input, Scratch: scratch,
		Progress: func(pr judge.Progress, passed int) { progress(FromJudge(pr, passed)) },
	})
	if err != nil {
		return fail(ExitInternal, err)
	}
	if err := writeResult(o, res); err != nil {
		fmt.Fprintln(o.Stderr, "judge job: termination log:", err)
	}
	if spec.ReportURL != "" {
		if err := upload(ctx, o.HTTP, spec.ReportURL, res); err != nil {
			// The verdict stands without the full report.
			fmt.Fprintln(o.Stderr, "judge job: upload report:", err)
		}
	}
	return ExitVerdict
}

func writeResult(o Options, r *judge.Result) error {
	b, err := r.MarshalCompact(MaxTerminationMessage)
	if err != nil {
		return err
	}
	return os.WriteFile(o.TerminationLog, b, 0o644)
}

func upload(ctx context.Context, hc *http.Client, url string, r *judge.Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.ContentLength = int64(len(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	return nil
}
