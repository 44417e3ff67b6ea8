// Command judge compiles and judges submissions on Kattis / ICPC problem
// packages in a per-run sandbox.
//
//	judge run --problem DIR --language LANG --source FILE [--all] [--json] [--progress]
//	judge verify [--json] DIR...
//	judge languages [--json]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/codequest-dev/codequest/judge"
	"github.com/codequest-dev/codequest/sandbox"
)

func main() {
	sandbox.Main()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "judge:", err)
	}
	os.Exit(code)
}

const usage = `usage:
  judge run --problem DIR --language LANG --source FILE [--all] [--json] [--progress]
  judge verify [--json] DIR...
  judge languages [--json]
  judge warm --out DIR    # prebuilt caches for a judge image (CODEQUEST_WARM)`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	if len(args) == 0 {
		return 2, errors.New(usage)
	}
	switch args[0] {
	case "run":
		return cmdRun(ctx, args[1:], stdout, stderr)
	case "verify":
		return cmdVerify(ctx, args[1:], stdout)
	case "languages":
		return cmdLanguages(ctx, args[1:], stdout)
	case "job":
		return cmdJob(ctx, args[1:], stdout, stderr)
	case "warm":
		return cmdWarm(ctx, args[1:])
	}
	return 2, fmt.Errorf("unknown command %q\n%s", args[0], usage)
}

func cacheDir() string {
	if d := os.Getenv("CODEQUEST_CACHE"); d != "" {
		return filepath.Join(d, "judge")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "codequest", "judge")
}

// common flags
type common struct {
	wallFactor  float64
	wallExtra   time.Duration
	parallel    int
	cpuPriority bool
}

func (c *common) register(fs *flag.FlagSet) {
	fs.Float64Var(&c.wallFactor, "wall-factor", 3, "wall-clock limit = factor × time limit + wall-extra")
	fs.DurationVar(&c.wallExtra, "wall-extra", 5*time.Second, "see wall-factor")
	fs.IntVar(&c.parallel, "parallel", 1, "tests of one submission run at once (verdicts do not depend on it)")
	fs.BoolVar(&c.cpuPriority, "cpu-priority", false, "give the runs the highest CPU weight on this host (a judgehost's dedicated core)")
}

func newJudge(ctx context.Context, c common) (*judge.Judge, func(), error) {
	sb, err := sandbox.New(ctx, sandbox.Config{CPUPriority: c.cpuPriority})
	if err != nil {
		return nil, nil, err
	}
	tc := judge.DefaultToolchains()
	langs := judge.Languages(tc)
	j, err := judge.New(judge.Config{
		Sandbox:   sb,
		Languages: langs,
		CacheDir:  cacheDir(),
		Warm:      os.Getenv("CODEQUEST_WARM"),
		Parallel:  c.parallel,
		WallLimit: func(cpu time.Duration) time.Duration {
			return time.Duration(c.wallFactor*float64(cpu)) + c.wallExtra
		},
	})
	if err != nil {
		sb.Close()
		return nil, nil, err
	}
	return j, func() { sb.Close() }, nil
}

// cmdWarm is `judge warm --out DIR`: DIR becomes a warm folder (see
// judge.Judge.Warm), for CODEQUEST_WARM.
func cmdWarm(ctx context.Context, args []string) (int, error) {
	fs := flag.NewFlagSet("warm", flag.ContinueOnError)
	out := fs.String("out", "", "the folder to fill")
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	if *out == "" {
		return 2, errors.New("warm needs --out")
	}
	sb, err := sandbox.New(ctx, sandbox.Config{})
	if err != nil {
		return 1, err
	}
	defer sb.Close()
	j, err := judge.New(judge.Config{Sandbox: sb, CacheDir: *out})
	if err != nil {
		return 1, err
	}
	if err := j.Warm(ctx); err != nil {
		return 1, err
	}
	return 0, nil
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	problem := fs.String("problem", "", "problem package folder")
	language := fs.String("language", "", "language id (python3, javascript, typescript, cpp, java, go); default: from the source's extension")
	source := fs.String("source", "", "source file")
	all := fs.Bool("all", false, "run every test, not only up to the first failure")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	compact := fs.Bool("compact", false, "print the compact JSON result (termination message form)")
	progress := fs.Bool("progress", false, "print per-test progress lines on stderr")
	var c common
	c.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	if *problem == "" || *source == "" {
		return 2, errors.New("run needs --problem and --source")
	}
	j, cleanup, err := newJudge(ctx, c)
	if err != nil {
		return 1, err
	}
	defer cleanup()
	p, err := judge.ReadProblem(*problem)
	if err != nil {
		return 1, err
	}
	if p.TimeLimit == 0 && *progress {
		fmt.Fprintln(stderr, "deriving the time limit from the accepted submissions")
	}
	if err := j.DeriveTimeLimit(ctx, p); err != nil {
		return 1, err
	}
	if *progress {
		fmt.Fprintf(stderr, "time limit %s (%s)\n", p.TimeLimit, p.TimeLimitFrom)
	}
	var lang *judge.Language
	var ok bool
	if *language != "" {
		lang, ok = judge.LanguageByID(j.Languages(), *language)
	} else {
		lang, ok = judge.LanguageByExt(j.Languages(), *source)
	}
	if !ok {
		return 2, fmt.Errorf("unknown language %q", *language)
	}
	src, err := os.ReadFile(*source)
	if err != nil {
		return 1, err
	}
	opts := judge.Options{All: *all}
	if *progress {
		opts.Progress = func(pr judge.Progress) {
			switch {
			case pr.Phase == "compiling":
				fmt.Fprintln(stderr, "compiling")
			case pr.Result != nil:
				fmt.Fprintf(stderr, "test %d/%d %s %s %d ms %d KiB\n", pr.Test, pr.Total, pr.Result.Name,
					pr.Result.Verdict.Short(), pr.Result.CPUMillis, pr.Result.MemoryKiB)
			}
		}
	}
	res, err := j.Judge(ctx, p, lang, src, opts)
	if err != nil {
		return 1, err
	}
	switch {
	case *compact:
		b, err := res.MarshalCompact(4000)
		if err != nil {
			return 1, err
		}
		fmt.Fprintln(stdout, string(b))
	case *asJSON:
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return 1, err
		}
	default:
		fmt.Fprintf(stdout, "%s  (%d/%d tests, max CPU %d ms, peak memory %.1f MiB)\n", res.Verdict,
			res.Passed, res.Total, res.MaxCPUMillis, float64(res.PeakMemoryKiB)/1024)
		if res.Message != "" {
			fmt.Fprintln(stdout, res.Message)
		}
		if res.CompileOutput != "" {
			fmt.Fprintln(stdout, res.CompileOutput)
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		for _, t := range res.Tests {
			fmt.Fprintf(tw, "%s\t%s\t%d ms\t%d ms wall\t%.1f MiB\t%s\n", t.Name, t.Verdict.Short(), t.CPUMillis,
				t.WallMillis, float64(t.MemoryKiB)/1024, strings.TrimSpace(t.Message+" "+t.Detail))
		}
		tw.Flush()
	}
	return 0, nil
}

func cmdVerify(ctx context.Context, args []string, stdout io.Writer) (int, error) {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the entries as JSON")
	var c common
	c.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	if fs.NArg() == 0 {
		return 2, errors.New("verify needs problem folders")
	}
	j, cleanup, err := newJudge(ctx, c)
	if err != nil {
		return 1, err
	}
	defer cleanup()
	var all []judge.VerifyEntry
	if !*asJSON {
		fmt.Fprintln(stdout, judge.VerifyHeader)
	}
	failed := false
	for _, dir := range fs.Args() {
		if _, err := os.Stat(filepath.Join(dir, "problem.yaml")); err != nil {
			continue // e.g. attacks/ or README.md in a corpus glob
		}
		entries, err := j.Verify(ctx, dir, func(e judge.VerifyEntry) {
			if !*asJSON {
				fmt.Fprintln(stdout, judge.VerifyLine(e))
			}
		})
		all = append(all, entries...)
		if err != nil {
			return 1, fmt.Errorf("verify %s: %w", dir, err)
		}
	}
	mismatches := 0
	for _, e := range all {
		if !e.Match {
			mismatches++
			failed = true
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(all); err != nil {
			return 1, err
		}
	} else {
		fmt.Fprintf(stdout, "%d submissions, %d mismatches\n", len(all), mismatches)
	}
	if failed {
		return 1, nil
	}
	return 0, nil
}

func cmdLanguages(ctx context.Context, args []string, stdout io.Writer) (int, error) {
	fs := flag.NewFlagSet("languages", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print as JSON")
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	type row struct {
		ID         string   `json:"id"`
		Name       string   `json:"name"`
		Extensions []string `json:"extensions"`
		Version    string   `json:"version"`
		Compile    []string `json:"compile,omitempty"`
		Run        []string `json:"run"`
	}
	var rows []row
	code := 0
	for _, l := range judge.Languages(judge.DefaultToolchains()) {
		v, err := judge.ToolchainVersion(ctx, l)
		if err != nil {
			v, code = "MISSING: "+err.Error(), 1
		}
		rows = append(rows, row{l.ID, l.Name, l.Extensions, v, l.Compile, l.Run})
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return code, enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tEXTENSIONS\tVERSION")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", r.ID, r.Name, r.Extensions, r.Version)
	}
	tw.Flush()
	return code, nil
}
