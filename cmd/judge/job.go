package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/codequest-dev/codequest/judge"
	"github.com/codequest-dev/codequest/judge/jobrun"
	"github.com/codequest-dev/codequest/sandbox"
)

// cmdJob is `judge job`: one judging in a judge pod (see judge/jobrun).
func cmdJob(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("job", flag.ContinueOnError)
	spec := fs.String("spec", filepath.Join(jobrun.SpecDir, jobrun.SpecFile), "judging spec (JSON)")
	work := fs.String("work", "/work", "writable work folder")
	term := fs.String("termination-log", jobrun.TerminationLog, "where the compact result goes")
	var c common
	c.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	if *work == "" {
		return 2, errors.New("job needs --work")
	}
	code := jobrun.Run(ctx, jobrun.Options{
		SpecPath: *spec, WorkDir: *work, TerminationLog: *term, Stdout: stdout, Stderr: stderr,
		NewJudge: func(ctx context.Context, s *jobrun.Spec) (jobrun.Judger, func(), error) {
			if err := os.MkdirAll(filepath.Join(*work, "tmp"), 0o755); err != nil {
				return nil, nil, err
			}
			sb, err := sandbox.New(ctx, sandbox.Config{StateDir: filepath.Join(*work, "sandbox")})
			if err != nil {
				return nil, nil, err
			}
			cfg := judge.Config{Sandbox: sb, CacheDir: filepath.Join(*work, "cache"), Parallel: c.parallel}
			cfg.Compile.Memory = s.Limits.CompileMemoryBytes
			cfg.WallLimit = func(cpu time.Duration) time.Duration {
				return time.Duration(c.wallFactor*float64(cpu)) + c.wallExtra
			}
			j, err := judge.New(cfg)
			if err != nil {
				sb.Close()
				return nil, nil, err
			}
			return j, func() { sb.Close() }, nil
		},
	})
	return code, nil
}
