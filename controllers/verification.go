package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/codequest-dev/codequest/api/v1alpha1"
	"github.com/codequest-dev/codequest/judge"
)

// Verification through Submissions: where the controller has no judge of
// its own (Job mode), a package's labelled submissions are judged as child
// Submissions of the Problem, by the same executor as everyone's; the
// Problem records agreement when they have all finished.
const (
	// VerifiesLabel names the Problem a verification Submission belongs to.
	VerifiesLabel = "codequest.dev/verifies"
	// PackageLabel holds the first 16 hex digits of the package checksum
	// a verification Submission was made for.
	PackageLabel = "codequest.dev/package"
	// ExpectedAnnotation and PathAnnotation say what the labelled
	// submission is and must get.
	ExpectedAnnotation = "codequest.dev/expected-verdict"
	PathAnnotation     = "codequest.dev/path"
)

// IsVerification reports whether sub judges a package's labelled
// submission (it may start before its Problem is Ready).
func IsVerification(sub *v1alpha1.Submission) bool { return sub.Labels[VerifiesLabel] != "" }

// verifyWithSubmissions makes the verification Submissions of prob's
// package (dir) if they do not exist, and records agreement once they all
// finished.
func (r *ProblemReconciler) verifyWithSubmissions(ctx context.Context, prob *v1alpha1.Problem, p *judge.Problem, dir string) (ctrl.Result, error) {
	pkg := prob.Spec.Package.SHA256[:16]
	var list v1alpha1.SubmissionList
	if err := r.List(ctx, &list, client.InNamespace(prob.Namespace), client.MatchingLabels{VerifiesLabel: prob.Name}); err != nil {
		return ctrl.Result{}, err
	}
	have := map[string]*v1alpha1.Submission{}
	for i := range list.Items {
		s := &list.Items[i]
		if s.Labels[PackageLabel] != pkg {
			// Made for an earlier package: no longer needed.
			if err := r.Delete(ctx, s); err != nil && !apierrors.IsNotFound(err) {
				return ctrl.Result{}, err
			}
			continue
		}
		have[s.Name] = s
	}
	langs := judge.Languages(judge.Toolchains{})
	var results []v1alpha1.PackageSubmissionResult
	pending, made := 0, 0
	subs := append([]judge.Submission(nil), p.Submissions...)
	sort.Slice(subs, func(i, j int) bool { return subs[i].Path < subs[j].Path })
	for _, ls := range subs {
		rel, _ := filepath.Rel(filepath.Join(dir, "submissions"), ls.Path)
		expected, ok := judge.VerdictForFolder(ls.Folder)
		lang, langOK := judge.LanguageByExt(langs, ls.Path)
		if !ok || !langOK || !prob.AllowsLanguage(v1alpha1.Language(lang.ID)) {
			continue // not a single verdict, or a language not judged here: skipped, as judge verify does
		}
		name := verificationName(prob.Name, pkg, rel)
		s, exists := have[name]
		if !exists {
			src, err := os.ReadFile(ls.Path)
			if err != nil {
				return ctrl.Result{}, err
			}
			if len(src) > v1alpha1.MaxInlineSource {
				continue
			}
			text := string(src)
			s = &v1alpha1.Submission{
				ObjectMeta: metav1.ObjectMeta{
					Name: name, Namespace: prob.Namespace,
					Labels:      map[string]string{VerifiesLabel: prob.Name, PackageLabel: pkg},
					Annotations: map[string]string{ExpectedAnnotation: string(expected), PathAnnotation: clip(rel, 256)},
				},
				Spec: v1alpha1.SubmissionSpec{
					ProblemRef: v1alpha1.ProblemReference{Name: prob.Name},
					Language:   v1alpha1.Language(lang.ID), Mode: v1alpha1.ModeSubmit,
					Source: v1alpha1.Source{Inline: &text},
				},
			}
			if err := controllerutil.SetControllerReference(prob, s, r.Scheme()); err != nil {
				return ctrl.Result{}, err
			}
			if err := r.Create(ctx, s); err != nil && !apierrors.IsAlreadyExists(err) {
				return ctrl.Result{}, fmt.Errorf("create verification submission: %w", err)
			}
			made++
			pending++
			continue
		}
		if !s.Status.Phase.Finished() {
			pending++
			continue
		}
		results = append(results, v1alpha1.PackageSubmissionResult{
			Path: clip(rel, 256), Expected: v1alpha1.Verdict(expected), Verdict: s.Status.Verdict,
			Agrees: string(s.Status.Verdict) == string(expected),
		})
	}
	if made > 0 {
		r.event(prob, "Normal", ReasonVerifying, fmt.Sprintf("Judging %d labelled submissions as Submissions", made))
	}
	if pending > 0 {
		r.setReady(prob, metav1.ConditionFalse, ReasonVerifying, fmt.Sprintf("%d labelled submissions being judged", pending))
		return ctrl.Result{}, nil
	}
	entries := make([]judge.VerifyEntry, 0, len(results))
	for _, res := range results {
		entries = append(entries, judge.VerifyEntry{Submission: res.Path, Expected: judge.Verdict(res.Expected), Got: judge.Verdict(res.Verdict), Match: res.Agrees})
	}
	r.recordAgreement(prob, entries, len(p.Tests))
	return ctrl.Result{}, nil
}

// verificationName is a deterministic name for one labelled submission of
// one package.
func verificationName(problem, pkg, path string) string {
	sum := sha256.Sum256([]byte(pkg + "/" + path))
	name := problem
	if len(name) > 40 {
		name = name[:40]
	}
	return name + "-v-" + hex.EncodeToString(sum[:6])
}
