package kube

import (
	"strings"

	"github.com/google/uuid"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/codequest-dev/codequest/api/v1alpha1"
	"github.com/codequest-dev/codequest/apiserver/submissions"
)

// UpdateFrom turns a Submission's status into an update of its row; ok is
// false for resources the API server did not create.
func UpdateFrom(s *v1alpha1.Submission) (submissions.Update, bool) {
	id, err := uuid.Parse(s.Name)
	if err != nil || s.Labels[v1alpha1.UserLabel] == "" {
		return submissions.Update{}, false
	}
	st := s.Status
	phase := strings.ToLower(string(st.Phase))
	if phase == "" {
		phase = "queued"
	}
	u := submissions.Update{
		ID: id, Phase: phase, Verdict: string(st.Verdict), Message: st.Message,
		CurrentTest: st.CurrentTest, TestsPassed: st.TestsPassed, TestsTotal: st.TestsTotal,
		CompilerMessage: st.CompilerMessage, RunOutput: st.RunOutput, Report: st.Report,
	}
	if st.MaxCPUTime != nil {
		u.MaxCPUMillis = st.MaxCPUTime.Milliseconds()
	}
	if st.PeakMemory != nil {
		u.PeakMemoryKiB = st.PeakMemory.Value() / 1024
	}
	for _, t := range st.Tests {
		u.Tests = append(u.Tests, submissions.TestUpdate{Verdict: string(t.Verdict), CPUMillis: t.CPUMillis, MemoryKiB: t.MemoryKiB})
	}
	return u, true
}

// verification summarises a Problem's labelled-submission results:
// "verifying" until Ready is decided, then "agreed" or "disagreed".
func verification(p *v1alpha1.Problem) (uuid.UUID, string, bool) {
	id, err := uuid.Parse(p.Name)
	if err != nil {
		return id, "", false
	}
	ready := meta.FindStatusCondition(p.Status.Conditions, "Ready")
	if ready == nil || ready.ObservedGeneration != p.Generation {
		return id, "verifying", len(p.Status.Verification) > 0
	}
	if len(p.Status.Verification) == 0 {
		return id, "", false
	}
	for _, r := range p.Status.Verification {
		if !r.Agrees {
			return id, "disagreed", true
		}
	}
	if ready.Status == metav1.ConditionTrue {
		return id, "agreed", true
	}
	return id, "verifying", true
}
