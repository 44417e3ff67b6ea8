package judge

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRoundTimeLimit(t *testing.T) {
	for _, tc := range []struct {
		slowest time.Duration
		mult    float64
		want    time.Duration
	}{
		{0, 5, time.Second},
		{30 * time.Millisecond, 5, time.Second},
		{200 * time.Millisecond, 5, time.Second},
		{201 * time.Millisecond, 5, 2 * time.Second},
		{700 * time.Millisecond, 3, 3 * time.Second},
		{2 * time.Second, 2, 4 * time.Second},
	} {
		if got := RoundTimeLimit(tc.slowest, tc.mult); got != tc.want {
			t.Errorf("RoundTimeLimit(%s, %g) = %s, want %s", tc.slowest, tc.mult, got, tc.want)
		}
	}
}

// TestDeriveTimeLimit: a package without a time limit gets the slowest
// accepted submission's time × time_multiplier, rounded up; a .timelimit
// file wins over the derivation; verify then judges under that limit.
func TestDeriveTimeLimit(t *testing.T) {
	j, _ := newTestJudge(t)
	dir, _ := filepath.Abs(filepath.Join("testdata", "problems", "derive"))
	p, err := ReadProblem(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.TimeLimit != 0 || p.TimeMultiplier != 3 {
		t.Fatalf("read time limit %s multiplier %g, want none and 3", p.TimeLimit, p.TimeMultiplier)
	}
	if err := j.DeriveTimeLimit(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if p.TimeLimit != time.Second || !strings.Contains(p.TimeLimitFrom, "add.py") {
		t.Errorf("derived %s (%s), want 1s from add.py", p.TimeLimit, p.TimeLimitFrom)
	}

	dot, _ := filepath.Abs(filepath.Join("testdata", "problems", "dotfile"))
	q, err := ReadProblem(dot)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.DeriveTimeLimit(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	if q.TimeLimit != 2500*time.Millisecond || q.TimeLimitFrom != ".timelimit" {
		t.Errorf(".timelimit: %s (%s), want 2.5s from .timelimit", q.TimeLimit, q.TimeLimitFrom)
	}

	entries, err := j.Verify(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("verify: %d entries, want 2", len(entries))
	}
	for _, e := range entries {
		if !e.Match {
			t.Errorf("verify %s: got %s, want %s (%s)", e.Submission, e.Got, e.Expected, e.Message)
		}
	}
}
