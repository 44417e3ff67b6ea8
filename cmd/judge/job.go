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
			// Uids come from the pod's IP (the controller passes it):
			// unique on the node, where lock files in the pod's own
			// filesystem would not be.
			sc := sandbox.Config{StateDir: filepath.Join(*work, "sandbox")}
			if ip := os.Getenv("CODEQUEST_POD_IP"); ip != "" {
				base, err := sandbox.UIDBaseForPod(ip)
				if err != nil {
					return nil, nil, err
				}
				sc.UIDBase = base
			}
			sb, err := sandbox.New(ctx, sc)
			if err != nil {
				return nil, nil, err
			}
			cfg := judge.Config{Sandbox: sb, CacheDir: filepath.Join(*work, "cache"), Warm: os.Getenv("CODEQUEST_WARM"), Parallel: c.parallel}
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
