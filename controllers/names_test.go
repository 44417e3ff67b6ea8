package controllers

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/codequest-dev/codequest/api/v1alpha1"
)

func TestJobName(t *testing.T) {
	long := strings.Repeat("a", 200)
	tests := []struct {
		sub  string
		want string
	}{
		{"s1", "s1-judge"},
		{strings.Repeat("b", 57), strings.Repeat("b", 57) + "-judge"},
	}
	for _, tt := range tests {
		if got := JobName(tt.sub); got != tt.want {
			t.Errorf("JobName(%q) = %q, want %q", tt.sub, got, tt.want)
		}
	}
	a, b := JobName(long), JobName(long+"x")
	if len(a) > 63 || len(b) > 63 || a == b || !strings.HasSuffix(a, "-judge") {
		t.Errorf("long names: %q and %q (must differ, end in -judge, fit 63)", a, b)
	}
	if JobName(long) != a {
		t.Error("JobName is not deterministic")
	}
}

func TestTestSummary(t *testing.T) {
	tests := []struct {
		in   string
		want v1alpha1.TestSummary
	}{
		{"AC 12 2048", v1alpha1.TestSummary{Verdict: v1alpha1.VerdictAccepted, CPUMillis: 12, MemoryKiB: 2048}},
		{"TLE 1030 9000", v1alpha1.TestSummary{Verdict: v1alpha1.VerdictTimeLimitExceeded, CPUMillis: 1030, MemoryKiB: 9000}},
		{"MLE 5 300000", v1alpha1.TestSummary{Verdict: v1alpha1.VerdictMemoryLimitExceeded, CPUMillis: 5, MemoryKiB: 300000}},
		{"garbage", v1alpha1.TestSummary{Verdict: v1alpha1.VerdictInternalError}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(testSummary(tt.in), tt.want); diff != "" {
			t.Errorf("testSummary(%q) (-got +want):\n%s", tt.in, diff)
		}
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Min: time.Second, Max: time.Minute}
	for _, tt := range []struct{ waited, want time.Duration }{
		{0, time.Second}, {500 * time.Millisecond, time.Second}, {10 * time.Second, 10 * time.Second}, {time.Hour, time.Minute},
	} {
		if got := b.after(tt.waited); got != tt.want {
			t.Errorf("after(%v) = %v, want %v", tt.waited, got, tt.want)
		}
	}
}
