package jobrun

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/codequest-dev/codequest/judge"
)

// Judger is the judge as a judging uses it (*judge.Judge).
type Judger interface {
	Languages() []*judge.Language
	Judge(ctx context.Context, p *judge.Problem, lang *judge.Language, src []byte, opts judge.Options) (*judge.Result, error)
}

// Request is one judging of a checked, unpacked package.
type Request struct {
	ProblemDir string
	Language   string
	Source     []byte
	// Limits override the package's.
	Limits Limits
	// Input, when set, makes this a run: the program runs on Input only;
	// a normal end is ACCEPTED (there is no answer to compare).
	Input *string
	// Scratch is a writable folder for a run's input.
	Scratch string
	// Progress, if set, sees the judge's progress and the tests passed so
	// far.
	Progress func(p judge.Progress, passed int)
}

// Judge judges one submission: the same code in a judge pod and in the
// local executor.
func Judge(ctx context.Context, j Judger, req Request) (*judge.Result, error) {
	p, err := judge.ReadProblem(req.ProblemDir)
	if err != nil {
		return nil, err
	}
	if req.Limits.TimeMillis > 0 {
		p.TimeLimit = time.Duration(req.Limits.TimeMillis) * time.Millisecond
	}
	if req.Limits.MemoryBytes > 0 {
		p.Memory = req.Limits.MemoryBytes
	}
	if req.Limits.OutputBytes > 0 {
		p.Output = req.Limits.OutputBytes
	}
	lang, ok := judge.LanguageByID(j.Languages(), req.Language)
	if !ok {
		return nil, fmt.Errorf("unknown language %q", req.Language)
	}
	if req.Input != nil {
		in, ans := filepath.Join(req.Scratch, "input.in"), filepath.Join(req.Scratch, "input.ans")
		if err := os.WriteFile(in, []byte(*req.Input), 0o644); err != nil {
			return nil, err
		}
		if err := os.WriteFile(ans, nil, 0o644); err != nil {
			return nil, err
		}
		p.Tests = []judge.Test{{Name: "run/input", Input: in, Answer: ans}}
		p.Validation, p.ValidatorDir, p.ValidatorFlags = judge.ValidationDefault, "", nil
	}
	passed := 0
	opts := judge.Options{Progress: func(pr judge.Progress) {
		if pr.Result != nil && pr.Result.Verdict == judge.Accepted {
			passed++
		}
		if req.Progress != nil {
			req.Progress(pr, passed)
		}
	}}
	if req.Input != nil {
		opts.KeepOutput = MaxRunOutput
	}
	res, err := j.Judge(ctx, p, lang, req.Source, opts)
	if err != nil {
		return nil, err
	}
	if req.Input != nil && res.Verdict == judge.WrongAnswer {
		// A run has no answer: finishing within the limits is success.
		res.Verdict, res.Message, res.Passed = judge.Accepted, "", 1
		for i := range res.Tests {
			res.Tests[i].Verdict = judge.Accepted
		}
	}
	return res, nil
}

// MaxRunOutput is how much of a run's output is kept (the termination
// message carries less; see judge.Result.MarshalCompact).
const MaxRunOutput = 64 << 10
