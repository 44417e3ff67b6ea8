package judge

import (
	"context"
	"path/filepath"
	"testing"
)

// TestHostile judges the judge's own hostile programs (testdata/hostile,
// one per attack class and language; README.md there) on this host: every
// attack is blocked (the program then solves the problem: ACCEPTED), and
// the oversized executables are compilation errors. TestGVisor judges them
// inside gVisor.
func TestHostile(t *testing.T) {
	j, _ := newTestJudge(t)
	entries, err := j.Verify(context.Background(), "testdata/hostile", nil)
	if err != nil {
		t.Fatal(err)
	}
	judged := 0
	for _, e := range entries {
		if e.Skipped != "" {
			t.Errorf("%s skipped: %s", e.Submission, e.Skipped)
			continue
		}
		judged++
		if !e.Match {
			t.Errorf("%s: got %s, want %s (%s)", e.Submission, e.Got, e.Expected, e.Message)
		}
	}
	files, _ := filepath.Glob("testdata/hostile/submissions/*/*")
	if judged != len(files) {
		t.Errorf("%d hostile programs judged, want the %d of testdata/hostile", judged, len(files))
	}
}
