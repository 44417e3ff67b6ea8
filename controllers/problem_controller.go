package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/codequest-dev/codequest/api/v1alpha1"
	"github.com/codequest-dev/codequest/judge"
	"github.com/codequest-dev/codequest/judge/jobrun"
)

// ConditionReady is a Problem's readiness: its package was fetched,
// checked and (when required) its labelled submissions verified.
const ConditionReady = "Ready"

// Reasons of the Ready condition.
const (
	ReasonPackageUnavailable = "PackageUnavailable"
	ReasonChecksumMismatch   = "ChecksumMismatch"
	ReasonInvalidPackage     = "InvalidPackage"
	ReasonValidationMismatch = "ValidationMismatch"
	ReasonVerifying          = "Verifying"
	ReasonVerified           = "Verified"
	ReasonVerificationFailed = "VerificationFailed"
	ReasonNotVerified        = "NotVerified"
)

// Verifier judges a package's labelled submissions.
type Verifier interface {
	Verify(ctx context.Context, dir string, onEntry func(judge.VerifyEntry)) ([]judge.VerifyEntry, error)
}

// ProblemReconciler checks Problems' packages.
type ProblemReconciler struct {
	client.Client
	Recorder events.EventRecorder
	Packages *PackageCache
	// Verifier judges labelled submissions; nil skips verification (Ready
	// with reason NotVerified).
	Verifier Verifier
	// VerificationOptional makes every Problem Ready whatever its labelled
	// submissions get (as spec.verification.required=false does for one).
	VerificationOptional bool
	// VerifyWithSubmissions, when there is no Verifier, judges the labelled
	// submissions as child Submissions through the executor (Job mode).
	VerifyWithSubmissions bool
	// RetryAfter paces retries of unavailable packages (default 30 s).
	RetryAfter time.Duration
}

// +kubebuilder:rbac:groups=codequest.dev,resources=problems,verbs=get;list;watch
// +kubebuilder:rbac:groups=codequest.dev,resources=problems/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=codequest.dev,resources=submissions,verbs=get;list;watch;create;delete

// Reconcile checks one Problem's package when its spec changed.
func (r *ProblemReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, reterr error) {
	prob := &v1alpha1.Problem{}
	if err := r.Get(ctx, req.NamespacedName, prob); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !prob.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	ready := meta.FindStatusCondition(prob.Status.Conditions, ConditionReady)
	if ready != nil && ready.ObservedGeneration == prob.Generation &&
		prob.Status.ObservedSHA256 == prob.Spec.Package.SHA256 &&
		ready.Reason != ReasonPackageUnavailable && ready.Reason != ReasonVerifying {
		return ctrl.Result{}, nil
	}

	before := prob.DeepCopy()
	defer func() {
		if equality.Semantic.DeepEqual(before.Status, prob.Status) {
			return
		}
		prob.Status.ObservedGeneration = prob.Generation
		if err := r.Status().Patch(ctx, prob, client.MergeFrom(before)); err != nil && !apierrors.IsNotFound(err) {
			reterr = errors.Join(reterr, fmt.Errorf("patch problem status: %w", err))
		}
	}()

	dir, err := r.Packages.Get(ctx, prob.Spec.Package)
	switch {
	case errors.Is(err, jobrun.ErrChecksum):
		r.setReady(prob, metav1.ConditionFalse, ReasonChecksumMismatch, err.Error())
		prob.Status.ObservedSHA256 = prob.Spec.Package.SHA256
		return ctrl.Result{}, nil
	case err != nil:
		r.setReady(prob, metav1.ConditionFalse, ReasonPackageUnavailable, err.Error())
		return ctrl.Result{RequeueAfter: r.retryAfter()}, nil
	}
	prob.Status.ObservedSHA256 = prob.Spec.Package.SHA256
	p, err := judge.ReadProblem(dir)
	if err != nil {
		r.setReady(prob, metav1.ConditionFalse, ReasonInvalidPackage, err.Error())
		return ctrl.Result{}, nil
	}
	prob.Status.TestCount = int32(len(p.Tests))
	prob.Status.Validation = v1alpha1.ValidationMode(p.Validation)
	if want := prob.Spec.Validation; want != "" && want != prob.Status.Validation {
		r.setReady(prob, metav1.ConditionFalse, ReasonValidationMismatch,
			fmt.Sprintf("spec.validation is %s but the package's is %s", want, p.Validation))
		return ctrl.Result{}, nil
	}
	if len(p.Submissions) == 0 {
		r.setReady(prob, metav1.ConditionTrue, ReasonVerified, fmt.Sprintf("%d tests; no labelled submissions", len(p.Tests)))
		return ctrl.Result{}, nil
	}
	if r.Verifier == nil && r.VerifyWithSubmissions {
		return r.verifyWithSubmissions(ctx, prob, p, dir)
	}
	if r.Verifier == nil {
		prob.Status.Verification = nil
		r.setReady(prob, metav1.ConditionTrue, ReasonNotVerified,
			fmt.Sprintf("%d tests; %d labelled submissions not judged (no local judge)", len(p.Tests), len(p.Submissions)))
		return ctrl.Result{}, nil
	}
	return r.verify(ctx, prob, dir, len(p.Tests))
}

// verify judges the labelled submissions and records agreement.
func (r *ProblemReconciler) verify(ctx context.Context, prob *v1alpha1.Problem, dir string, tests int) (ctrl.Result, error) {
	r.event(prob, "Normal", ReasonVerifying, "Judging the package's labelled submissions")
	entries, err := r.Verifier.Verify(ctx, dir, nil)
	if err != nil {
		r.setReady(prob, metav1.ConditionFalse, ReasonInvalidPackage, "verify: "+err.Error())
		return ctrl.Result{}, nil
	}
	r.recordAgreement(prob, entries, tests)
	return ctrl.Result{}, nil
}

// recordAgreement records the verdicts of the labelled submissions and
// decides Ready.
func (r *ProblemReconciler) recordAgreement(prob *v1alpha1.Problem, entries []judge.VerifyEntry, tests int) {
	prob.Status.Verification = nil
	disagree, first := 0, ""
	for _, e := range entries {
		if e.Skipped != "" {
			continue
		}
		if !e.Match {
			disagree++
			if first == "" {
				first = fmt.Sprintf("; first: %s got %s, want %s: %s", e.Submission, e.Got, e.Expected, e.Message)
			}
		}
		if len(prob.Status.Verification) < 64 {
			prob.Status.Verification = append(prob.Status.Verification, v1alpha1.PackageSubmissionResult{
				Path: clip(e.Submission, 256), Expected: v1alpha1.Verdict(e.Expected),
				Verdict: v1alpha1.Verdict(e.Got), Agrees: e.Match,
			})
		}
	}
	n := len(prob.Status.Verification)
	switch {
	case disagree == 0:
		r.setReady(prob, metav1.ConditionTrue, ReasonVerified, fmt.Sprintf("%d tests; %d labelled submissions agree", tests, n))
	case !prob.VerificationRequired() || r.VerificationOptional:
		r.setReady(prob, metav1.ConditionTrue, ReasonVerificationFailed,
			fmt.Sprintf("%d tests; %d of %d labelled submissions disagree (verification not required)%s", tests, disagree, n, first))
	default:
		r.setReady(prob, metav1.ConditionFalse, ReasonVerificationFailed,
			fmt.Sprintf("%d of %d labelled submissions disagree%s", disagree, n, first))
	}
}

func (r *ProblemReconciler) setReady(prob *v1alpha1.Problem, status metav1.ConditionStatus, reason, msg string) {
	msg = clip(msg, 1024)
	if old := meta.FindStatusCondition(prob.Status.Conditions, ConditionReady); old == nil || old.Status != status || old.Reason != reason {
		etype := "Normal"
		if status != metav1.ConditionTrue {
			etype = "Warning"
		}
		r.event(prob, etype, reason, msg)
	}
	meta.SetStatusCondition(&prob.Status.Conditions, metav1.Condition{
		Type: ConditionReady, Status: status, Reason: reason, Message: msg, ObservedGeneration: prob.Generation,
	})
}

func (r *ProblemReconciler) event(prob *v1alpha1.Problem, etype, reason, msg string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(prob, nil, etype, reason, "Check", msg)
	}
}

func (r *ProblemReconciler) retryAfter() time.Duration {
	if r.RetryAfter > 0 {
		return r.RetryAfter
	}
	return 30 * time.Second
}

// SetupWithManager registers the reconciler with mgr.
func (r *ProblemReconciler) SetupWithManager(mgr ctrl.Manager, concurrency int) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.Problem{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&v1alpha1.Submission{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(concurrency, 1)}).
		Named("problem").
		Complete(r)
}
