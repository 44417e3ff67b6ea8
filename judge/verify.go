package judge

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// VerifyEntry is the outcome of one labelled submission.
type VerifyEntry struct {
	Problem    string  `json:"problem"`
	Submission string  `json:"submission"` // folder/file
	Language   string  `json:"language"`
	Expected   Verdict `json:"expected"`
	Got        Verdict `json:"got"`
	Match      bool    `json:"match"`
	// Failed is the first test that was not accepted.
	Failed        string `json:"failed,omitempty"`
	Message       string `json:"message,omitempty"`
	MaxCPUMillis  int64  `json:"max_cpu_ms"`
	PeakMemoryKiB int64  `json:"peak_memory_kib"`
	// Reruns counts the runs again of tests over their time limit by a
	// small margin (timing.go).
	Reruns int `json:"reruns,omitempty"`
	// Skipped says why a submission was not judged (unknown language or
	// verdict folder); skipped entries are not mismatches.
	Skipped string `json:"skipped,omitempty"`
}

// Verify judges every labelled submission of the package in dir. onEntry,
// if set, sees each entry as soon as it is known.
func (j *Judge) Verify(ctx context.Context, dir string, onEntry func(VerifyEntry)) ([]VerifyEntry, error) {
	p, err := ReadProblem(dir)
	if err != nil {
		return nil, err
	}
	if err := j.DeriveTimeLimit(ctx, p); err != nil {
		return nil, err
	}
	var out []VerifyEntry
	for _, s := range p.Submissions {
		e := VerifyEntry{Problem: filepath.Base(dir), Submission: s.Folder + "/" + filepath.Base(s.Path)}
		want, ok := VerdictForFolder(s.Folder)
		lang, lok := LanguageByExt(j.cfg.Languages, s.Path)
		switch {
		case !ok:
			e.Skipped = "folder " + s.Folder + " names no single verdict"
		case !lok:
			e.Skipped = "unknown language"
		}
		if e.Skipped != "" {
			e.Match = true
			out = append(out, e)
			if onEntry != nil {
				onEntry(e)
			}
			continue
		}
		e.Expected, e.Language = want, lang.ID
		src, err := os.ReadFile(s.Path)
		if err != nil {
			return out, err
		}
		r, err := j.Judge(ctx, p, lang, src, Options{})
		if err != nil {
			e.Got, e.Message = InternalError, err.Error()
		} else {
			e.Got, e.Message = r.Verdict, r.Message
			e.MaxCPUMillis, e.PeakMemoryKiB = r.MaxCPUMillis, r.PeakMemoryKiB
			for _, t := range r.Tests {
				e.Reruns += t.Reruns
			}
			for _, t := range r.Tests {
				if t.Verdict != Accepted {
					e.Failed = t.Name
					if t.Detail != "" {
						e.Message += " (" + t.Detail + ")"
					}
					break
				}
			}
			if r.Verdict == CompilationError {
				e.Message = clip(r.CompileOutput, 200)
			}
		}
		e.Match = e.Got == e.Expected
		out = append(out, e)
		if onEntry != nil {
			onEntry(e)
		}
	}
	return out, nil
}

// WriteVerifyTable prints entries as a table.
func WriteVerifyTable(w io.Writer, entries []VerifyEntry) {
	fmt.Fprintln(w, VerifyHeader)
	for _, e := range entries {
		fmt.Fprintln(w, VerifyLine(e))
	}
}

// VerifyHeader heads the table of VerifyLine lines.
var VerifyHeader = fmt.Sprintf(lineFormat, "PROBLEM", "SUBMISSION", "EXPECTED", "GOT", "CPU", "MEMORY", "")

const lineFormat = "%-10s %-36s %-8s %-4s %8s %10s  %s"

// VerifyLine is one table line.
func VerifyLine(e VerifyEntry) string {
	if e.Skipped != "" {
		return fmt.Sprintf(lineFormat, e.Problem, e.Submission, "-", "-", "-", "-", "skipped: "+e.Skipped)
	}
	mark := "ok"
	if !e.Match {
		mark = "MISMATCH"
		if e.Message != "" {
			mark += ": " + clip(e.Message, 160)
		}
	}
	return fmt.Sprintf(lineFormat, e.Problem, e.Submission, e.Expected.Short(), e.Got.Short(),
		fmt.Sprintf("%d ms", e.MaxCPUMillis), fmt.Sprintf("%.1f MiB", float64(e.PeakMemoryKiB)/1024), mark)
}
