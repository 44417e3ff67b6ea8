package judge

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/codequest-dev/codequest/sandbox"
)

// validatorRun prepares a validator's sandbox spec for test t.
func (j *Judge) validatorSpec(p *Problem, v *compiled, t Test, flags []string, feedback string) sandbox.Spec {
	binds := []sandbox.Bind{
		{Source: v.Dir, Target: Box, Copy: true},
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
// The validator's own words (judgemessage.txt, its stderr) may quote the
// test: they go to detail, for the problem's editors.
func validatorVerdict(r *sandbox.Result, feedback string) (v Verdict, msg, detail string) {
	detail = readFeedback(feedback)
	switch {
	case r.Signal == 0 && r.ExitCode == 42:
		return Accepted, "", detail
	case r.Signal == 0 && r.ExitCode == 43:
		return WrongAnswer, "wrong answer", detail
	}
	how := fmt.Sprintf("exit code %d", r.ExitCode)
	if r.Signal != 0 {
		how = "killed by " + sandbox.SignalName(r.Signal)
	}
	if tail := lastLine(r.Stderr); tail != "" {
		detail += " " + tail
	}
	return InternalError, "validator failed (" + how + ")", strings.TrimSpace(detail)
}

func (j *Judge) runValidator(ctx context.Context, p *Problem, v *compiled, t Test, flags []string, team []byte) (Verdict, string, string, error) {
	fb, err := feedbackDir(j.cfg.CacheDir)
	if err != nil {
		return "", "", "", err
	}
	defer os.RemoveAll(fb)
	teamFile, err := os.CreateTemp(filepath.Join(j.cfg.CacheDir, "tmp"), "team-")
	if err != nil {
		return "", "", "", err
	}
	defer os.Remove(teamFile.Name())
	defer teamFile.Close()
	if _, err := teamFile.Write(team); err != nil {
		return "", "", "", err
	}
	if _, err := teamFile.Seek(0, io.SeekStart); err != nil {
		return "", "", "", err
	}
	spec := j.validatorSpec(p, v, t, flags, fb)
	spec.Stdin = teamFile
	r, err := j.run(ctx, spec)
	if err != nil {
		return "", "", "", fmt.Errorf("run validator: %w", err)
	}
	verdict, msg, detail := validatorVerdict(r, fb)
	return verdict, msg, detail, nil
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
	over, err := j.overLimit(ctx, p, prog.lang, pr, tr)
	if err != nil {
		return nil, err
	}
	vv, vmsg, vdetail := validatorVerdict(vr, fb)
	if vv == WrongAnswer && vr.Ended.Before(pr.Ended) {
		tr.Verdict, tr.Message, tr.Detail = WrongAnswer, vmsg, vdetail
		return tr, nil
	}
	if v, msg, detail := classify(p, prog.lang, pr, over, tr.StartupMillis); v != "" {
		tr.Verdict, tr.Message, tr.Detail = v, msg, detail
		return tr, nil
	}
	if vv == InternalError && (vr.WallExceeded || vr.CPUExceeded) {
		return tr, fmt.Errorf("interactor timed out")
	}
	tr.Verdict, tr.Message, tr.Detail = vv, vmsg, vdetail
	return tr, nil
}
