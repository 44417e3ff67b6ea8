// Package controllers reconciles Problems and Submissions: a Problem's
// package is fetched, checked and verified; a Submission is judged through
// an Executor (judge Jobs in a cluster, or the judge in-process on one
// machine) and its verdict recorded in its status.
package controllers

import (
	"context"
	"errors"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/codequest-dev/codequest/api/v1alpha1"
	"github.com/codequest-dev/codequest/judge"
)

// Executor judges Submissions. The Submission reconciler is the same for
// every Executor; only where the judge runs differs.
type Executor interface {
	// Start begins judging sub against prob. It is idempotent: starting a
	// Submission whose judging exists already is not an error.
	// ErrQuotaExceeded means it cannot start now.
	Start(ctx context.Context, sub *v1alpha1.Submission, prob *v1alpha1.Problem) (*v1alpha1.JobReference, error)
	// Observe reports how judging sub goes.
	Observe(ctx context.Context, sub *v1alpha1.Submission) (Observation, error)
	// Release frees what judging the Submission key held, once its outcome
	// is recorded or the Submission is gone.
	Release(ctx context.Context, key types.NamespacedName) error
}

// ErrQuotaExceeded is returned by Start when the namespace's quota refuses
// a new judging; the Submission stays Queued and is retried.
var ErrQuotaExceeded = errors.New("judge quota exceeded")

// State is how far judging has come.
type State int

// The states.
const (
	// StateAbsent: nothing was started (or it was lost): Start it.
	StateAbsent State = iota
	// StatePending: started, waiting for a place to run.
	StatePending
	// StateCompiling: fetching the package or compiling.
	StateCompiling
	// StateRunning: running tests.
	StateRunning
	// StateDone: Outcome is set.
	StateDone
)

// Observation is what an Executor knows of one judging.
type Observation struct {
	State State
	// Test is the 1-based test being run, Total the number of tests,
	// Passed the accepted ones so far (while running).
	Test, Total, Passed int
	// Job is the judging's Job, if any.
	Job *v1alpha1.JobReference
	// Message says why judging waits (e.g. the pod is unschedulable).
	Message string
	// Outcome is the result, with StateDone.
	Outcome *Outcome
	// PollAfter asks to be observed again after a while (progress that
	// produces no watch event).
	PollAfter time.Duration
}

// Outcome is the result of a finished judging.
type Outcome struct {
	// Result is the judge's compact result (Verdict set).
	Result judge.Compact
	// Failed: judging itself failed; Result.Verdict is INTERNAL_ERROR.
	Failed bool
	// Reason is a CamelCase reason for the condition and Event.
	Reason string
	// Report locates the full report, if one was stored.
	Report string
}
