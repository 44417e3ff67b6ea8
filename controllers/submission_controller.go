package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/codequest-dev/codequest/api/v1alpha1"
	"github.com/codequest-dev/codequest/judge"
)

// Condition types of a Submission.
const (
	// ConditionScheduled is True once judging started (a Job exists).
	ConditionScheduled = "Scheduled"
	// ConditionJudged is True once a verdict is recorded, False when
	// judging failed.
	ConditionJudged = "Judged"
)

// Reasons of Submission conditions and Events.
const (
	ReasonProblemNotFound    = "ProblemNotFound"
	ReasonProblemNotReady    = "ProblemNotReady"
	ReasonLanguageNotAllowed = "LanguageNotAllowed"
	ReasonQuotaExceeded      = "QuotaExceeded"
	ReasonStarted            = "Started"
	ReasonJobLost            = "JobLost"
	ReasonPending            = "Pending"
	ReasonJudged             = "Judged"
	ReasonJudgingFailed      = "JudgingFailed"
	ReasonFairQueue          = "FairQueue"
)

// fairQueueRecheck re-reconciles a Submission the fair queue holds back, in
// case a wake-up was lost.
const fairQueueRecheck = 30 * time.Second

// problemRefField indexes Submissions by spec.problemRef.name.
const problemRefField = "spec.problemRef.name"

// Backoff bounds the retries of a Submission the quota refused.
type Backoff struct {
	Min, Max time.Duration
}

// after is the wait before the next try, waited so far since the first
// refusal: it doubles with time, between Min and Max.
func (b Backoff) after(waited time.Duration) time.Duration {
	return min(max(waited, b.Min), b.Max)
}

// SubmissionReconciler judges Submissions through an Executor and records
// the outcome in their status.
type SubmissionReconciler struct {
	client.Client
	Recorder events.EventRecorder
	Executor Executor
	// QuotaBackoff paces the retries of Submissions the quota refused
	// (default 1 s to 1 min).
	QuotaBackoff Backoff
	// MaxConcurrentReconciles is the number of Submissions reconciled at
	// once (default 16).
	MaxConcurrentReconciles int
	// Queue, if set, decides which queued Submissions start: a per-user
	// cap and fair ordering between users.
	Queue *FairQueue
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// +kubebuilder:rbac:groups=codequest.dev,resources=submissions,verbs=get;list;watch
// +kubebuilder:rbac:groups=codequest.dev,resources=submissions/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=codequest.dev,resources=problems,verbs=get;list;watch
// +kubebuilder:rbac:groups=batch,namespace=codequest-judge,resources=jobs,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",namespace=codequest-judge,resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",namespace=codequest-judge,resources=pods/log,verbs=get
// +kubebuilder:rbac:groups="",namespace=codequest-judge,resources=secrets,verbs=create;delete
// +kubebuilder:rbac:groups=events.k8s.io,namespace=codequest-judge,resources=events,verbs=create;patch

// Reconcile moves one Submission along: wait for its Problem, start
// judging, follow it, record the outcome.
func (r *SubmissionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, reterr error) {
	sub := &v1alpha1.Submission{}
	if err := r.Get(ctx, req.NamespacedName, sub); err != nil {
		if apierrors.IsNotFound(err) {
			// Gone: its Job and Secret go with it (owner references);
			// the executor frees what it holds.
			r.queueDone(req.NamespacedName)
			return ctrl.Result{}, r.Executor.Release(ctx, req.NamespacedName)
		}
		return ctrl.Result{}, err
	}
	if !sub.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}

	before := sub.DeepCopy()
	defer func() {
		if equality.Semantic.DeepEqual(before.Status, sub.Status) {
			return
		}
		sub.Status.ObservedGeneration = sub.Generation
		if err := r.Status().Patch(ctx, sub, client.MergeFrom(before)); err != nil && !apierrors.IsNotFound(err) {
			reterr = errors.Join(reterr, fmt.Errorf("patch submission status: %w", err))
		}
	}()

	if sub.Status.Phase.Finished() {
		r.queueDone(req.NamespacedName)
		return ctrl.Result{}, r.Executor.Release(ctx, req.NamespacedName)
	}
	if sub.Status.Phase == "" {
		r.setPhase(sub, v1alpha1.PhaseQueued)
		sub.Status.Message = "Waiting to be judged"
	}

	obs, err := r.Executor.Observe(ctx, sub)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("observe judging: %w", err)
	}
	if obs.State == StateAbsent {
		return r.reconcileStart(ctx, sub)
	}
	if r.Queue != nil {
		r.Queue.Running(sub)
	}
	return r.reconcileProgress(ctx, sub, obs)
}

// reconcileStart starts judging once the Problem is Ready and the quota
// allows.
func (r *SubmissionReconciler) reconcileStart(ctx context.Context, sub *v1alpha1.Submission) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	prob := &v1alpha1.Problem{}
	err := r.Get(ctx, types.NamespacedName{Namespace: sub.Namespace, Name: sub.Spec.ProblemRef.Name}, prob)
	switch {
	case apierrors.IsNotFound(err):
		r.wait(sub, ReasonProblemNotFound, fmt.Sprintf("Problem %q does not exist", sub.Spec.ProblemRef.Name))
		return ctrl.Result{}, nil
	case err != nil:
		return ctrl.Result{}, err
	case !meta.IsStatusConditionTrue(prob.Status.Conditions, ConditionReady) && !IsVerification(sub):
		r.wait(sub, ReasonProblemNotReady, fmt.Sprintf("Problem %q is not Ready", prob.Name))
		return ctrl.Result{}, nil
	case !prob.AllowsLanguage(sub.Spec.Language):
		msg := fmt.Sprintf("Problem %q does not accept %s", prob.Name, sub.Spec.Language)
		r.finish(sub, &Outcome{Failed: true, Reason: ReasonLanguageNotAllowed,
			Result: judge.Compact{Verdict: judge.InternalError, Message: msg}})
		return ctrl.Result{}, nil
	}

	if r.Queue != nil {
		if ok, why := r.Queue.Admit(sub); !ok {
			r.wait(sub, ReasonFairQueue, why)
			return ctrl.Result{RequeueAfter: fairQueueRecheck}, nil
		}
	}
	lost := meta.IsStatusConditionTrue(sub.Status.Conditions, ConditionScheduled)
	ref, err := r.Executor.Start(ctx, sub, prob)
	if err != nil && r.Queue != nil {
		r.Queue.Requeue(sub)
	}
	if errors.Is(err, ErrQuotaExceeded) {
		c := meta.FindStatusCondition(sub.Status.Conditions, ConditionScheduled)
		waited := time.Duration(0)
		if c != nil && c.Reason == ReasonQuotaExceeded {
			waited = r.now().Sub(c.LastTransitionTime.Time)
		}
		submissionsQuotaRefused.Inc()
		r.wait(sub, ReasonQuotaExceeded, "The judge namespace's quota is used up; retrying")
		return ctrl.Result{RequeueAfter: r.QuotaBackoff.after(waited)}, nil
	}
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("start judging: %w", err)
	}
	if lost {
		r.event(sub, "Warning", ReasonJobLost, "Judging was lost before its outcome was recorded; started again")
	}
	now := metav1.NewTime(r.now())
	sub.Status.JobRef = ref
	if sub.Status.StartTime == nil {
		sub.Status.StartTime = &now
		submissionQueueSeconds.Observe(now.Sub(sub.CreationTimestamp.Time).Seconds())
	}
	msg := "Judging started"
	if ref != nil {
		msg = "Created judge Job " + ref.Name
		log.Info("Created judge Job", "job", klog.KRef(sub.Namespace, ref.Name))
		r.event(sub, "Normal", ReasonStarted, msg)
	}
	meta.SetStatusCondition(&sub.Status.Conditions, metav1.Condition{
		Type: ConditionScheduled, Status: metav1.ConditionTrue, Reason: ReasonStarted, Message: msg,
		ObservedGeneration: sub.Generation,
	})
	sub.Status.Message = msg
	if ref == nil {
		// An in-process executor may be judging already: one status
		// write then says both Started and Compiling.
		if obs, err := r.Executor.Observe(ctx, sub); err == nil && obs.State != StateAbsent && obs.State != StatePending {
			return r.reconcileProgress(ctx, sub, obs)
		}
	}
	return ctrl.Result{}, nil
}

// reconcileProgress follows a started judging.
func (r *SubmissionReconciler) reconcileProgress(ctx context.Context, sub *v1alpha1.Submission, obs Observation) (ctrl.Result, error) {
	if obs.Job != nil {
		sub.Status.JobRef = obs.Job
	}
	if obs.Total > 0 {
		sub.Status.TestsTotal = int32(obs.Total)
	}
	switch obs.State {
	case StatePending:
		msg := obs.Message
		if msg == "" {
			msg = "Waiting for the judge to start"
		}
		sub.Status.Message = msg
	case StateCompiling:
		if sub.Status.Phase != v1alpha1.PhaseCompiling {
			r.setPhase(sub, v1alpha1.PhaseCompiling)
			sub.Status.Message = "Fetching the package and compiling"
		}
	case StateRunning:
		sub.Status.CurrentTest = int32(obs.Test)
		sub.Status.TestsPassed = int32(obs.Passed)
		r.setPhase(sub, v1alpha1.PhaseRunning)
		sub.Status.Message = "Running the tests"
		if obs.Total > 0 {
			sub.Status.Message = fmt.Sprintf("Running test %d/%d", obs.Test, obs.Total)
		}
	case StateDone:
		r.finish(sub, obs.Outcome)
		// The outcome is recorded by the deferred patch; the next
		// reconcile (triggered by that patch) releases the Job.
		return ctrl.Result{}, nil
	}
	return ctrl.Result{RequeueAfter: obs.PollAfter}, nil
}

func (r *SubmissionReconciler) queueDone(key types.NamespacedName) {
	if r.Queue != nil {
		r.Queue.Done(key)
	}
}

// wait keeps sub Queued with a reason.
func (r *SubmissionReconciler) wait(sub *v1alpha1.Submission, reason, msg string) {
	if c := meta.FindStatusCondition(sub.Status.Conditions, ConditionScheduled); c == nil || c.Reason != reason {
		r.event(sub, "Normal", reason, msg)
	}
	meta.SetStatusCondition(&sub.Status.Conditions, metav1.Condition{
		Type: ConditionScheduled, Status: metav1.ConditionFalse, Reason: reason, Message: msg,
		ObservedGeneration: sub.Generation,
	})
	sub.Status.Phase = v1alpha1.PhaseQueued
	sub.Status.Message = msg
}

// finish records an outcome.
func (r *SubmissionReconciler) finish(sub *v1alpha1.Submission, o *Outcome) {
	c := o.Result
	st := &sub.Status
	st.Verdict = v1alpha1.Verdict(c.Verdict)
	st.TestsPassed, st.TestsTotal = int32(c.Passed), int32(c.Total)
	st.CurrentTest = 0
	if c.Total > 0 || c.MaxCPUMillis > 0 {
		st.MaxCPUTime = &metav1.Duration{Duration: time.Duration(c.MaxCPUMillis) * time.Millisecond}
		st.PeakMemory = resource.NewQuantity(c.PeakMemoryKiB<<10, resource.BinarySI)
	}
	st.Tests = nil
	for _, t := range c.Tests {
		if len(st.Tests) == 256 {
			break
		}
		st.Tests = append(st.Tests, testSummary(t))
	}
	st.TestsTruncated = c.More || len(c.Tests) > len(st.Tests)
	st.Message = clip(c.Message, 1024)
	if c.Verdict == judge.CompilationError {
		st.CompilerMessage = clip(c.Message, 4096)
		st.Message = "Compilation failed"
	}
	if sub.Spec.Mode == v1alpha1.ModeRun {
		st.RunOutput = clip(c.Output, 64<<10)
	}
	st.Report = o.Report
	now := metav1.NewTime(r.now())
	st.CompletionTime = &now
	phase, status, reason, etype := v1alpha1.PhaseCompleted, metav1.ConditionTrue, ReasonJudged, "Normal"
	if o.Failed {
		phase, status, reason, etype = v1alpha1.PhaseFailed, metav1.ConditionFalse, ReasonJudgingFailed, "Warning"
	}
	if o.Reason != "" {
		reason = o.Reason
	}
	summary := fmt.Sprintf("%s, %d/%d tests passed", c.Verdict, c.Passed, c.Total)
	if o.Failed {
		summary = fmt.Sprintf("Judging failed: %s", clip(c.Message, 300))
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: ConditionJudged, Status: status, Reason: reason, Message: summary, ObservedGeneration: sub.Generation,
	})
	st.Phase = phase
	r.event(sub, etype, reason, summary)
	submissionsFinished.WithLabelValues(string(phase), string(c.Verdict)).Inc()
	if st.StartTime != nil {
		submissionJudgeSeconds.Observe(now.Sub(st.StartTime.Time).Seconds())
	}
}

// setPhase moves sub to phase. Phases are the status's to show, not
// Events': an Event is a write to the API server like a status patch, and
// a Submission passes through its phases in a fraction of a second. Events
// mark what a person looking at one may need: a wait and its reason, the
// Job made, a lost judging, the outcome.
func (r *SubmissionReconciler) setPhase(sub *v1alpha1.Submission, phase v1alpha1.Phase) {
	if sub.Status.Phase == phase {
		return
	}
	sub.Status.Phase = phase
}

func (r *SubmissionReconciler) event(sub *v1alpha1.Submission, etype, reason, msg string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(sub, nil, etype, reason, "Judge", msg)
	}
}

func (r *SubmissionReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// testSummary parses a compact per-test entry ("AC 12 2048").
func testSummary(s string) v1alpha1.TestSummary {
	var short string
	var t v1alpha1.TestSummary
	fmt.Sscanf(s, "%s %d %d", &short, &t.CPUMillis, &t.MemoryKiB)
	t.Verdict = verdictFromShort(short)
	return t
}

func verdictFromShort(s string) v1alpha1.Verdict {
	for _, v := range []judge.Verdict{judge.Accepted, judge.WrongAnswer, judge.TimeLimitExceeded,
		judge.MemoryLimitExceeded, judge.OutputLimitExceeded, judge.RuntimeError,
		judge.CompilationError, judge.InternalError} {
		if v.Short() == s || string(v) == s {
			return v1alpha1.Verdict(v)
		}
	}
	return v1alpha1.VerdictInternalError
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// watcher is implemented by executors that need events from more objects
// (the Job executor: its Jobs; the local executor: its progress channel).
type watcher interface {
	watch(b *builder.Builder) *builder.Builder
}

// SetupWithManager registers the reconciler with mgr.
func (r *SubmissionReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.QuotaBackoff.Min == 0 {
		r.QuotaBackoff.Min = time.Second
	}
	if r.QuotaBackoff.Max == 0 {
		r.QuotaBackoff.Max = time.Minute
	}
	if r.MaxConcurrentReconciles == 0 {
		r.MaxConcurrentReconciles = 16
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.Submission{}, problemRefField, func(o client.Object) []string {
		return []string{o.(*v1alpha1.Submission).Spec.ProblemRef.Name}
	}); err != nil {
		return fmt.Errorf("index submissions by problem: %w", err)
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.Submission{}).
		Watches(&v1alpha1.Problem{}, handler.EnqueueRequestsFromMapFunc(r.waitingOn)).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Named("submission")
	if w, ok := r.Executor.(watcher); ok {
		b = w.watch(b)
	}
	if r.Queue != nil {
		b = b.WatchesRawSource(source.Channel(r.Queue.wake, &handler.TypedEnqueueRequestForObject[*v1alpha1.Submission]{}))
	}
	return b.Complete(r)
}

// waitingOn lists the Submissions that wait for a Problem.
func (r *SubmissionReconciler) waitingOn(ctx context.Context, o client.Object) []reconcile.Request {
	var subs v1alpha1.SubmissionList
	if err := r.List(ctx, &subs, client.InNamespace(o.GetNamespace()), client.MatchingFields{problemRefField: o.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "List submissions of problem", "problem", klog.KObj(o))
		return nil
	}
	var reqs []reconcile.Request
	for _, s := range subs.Items {
		if s.Status.JobRef == nil && !s.Status.Phase.Finished() {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&s)})
		}
	}
	return reqs
}
