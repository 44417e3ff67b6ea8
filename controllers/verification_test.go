package controllers

import (
	"context"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/codequest-dev/codequest/api/v1alpha1"
	"github.com/codequest-dev/codequest/judge"
	"github.com/codequest-dev/codequest/sandbox"
	"github.com/codequest-dev/codequest/sandbox/sandboxtest"
)

// Where the controller has no judge of its own (Job mode), a package's
// labelled submissions are judged as child Submissions through the
// executor. The local executor stands in for Jobs here: the mechanism in
// the Problem reconciler is the same.
var _ = Describe("Package verification through Submissions", Ordered, func() {
	const ns = "codequest-verify"
	var (
		ctx = context.Background()
		mgr *manager
		sb  *sandbox.Sandbox
	)
	BeforeAll(func() {
		var err error
		sb, err = sandbox.New(ctx, sandbox.Config{InitPath: sandboxtest.BuildInit(GinkgoT())})
		Expect(err).NotTo(HaveOccurred())
		j, err := judge.New(judge.Config{Sandbox: sb, CacheDir: filepath.Join(GinkgoT().TempDir(), "judge")})
		Expect(err).NotTo(HaveOccurred())
		pkgs := NewPackageCache(objects, GinkgoT().TempDir())
		mgr = startManagerWith(ns, func(ctrl.Manager) Executor { return NewLocalExecutor(j, pkgs, objects, 2, 100) },
			func(pr *ProblemReconciler) { pr.VerifyWithSubmissions = true })
	})
	AfterAll(func() {
		if mgr != nil {
			mgr.stop()
		}
		if sb != nil {
			Expect(sb.Close()).To(Succeed())
		}
	})

	It("judges the labelled submissions as owned Submissions, then records agreement", func() {
		p := readyProblem(ctx, ns, "sum", nil)
		Expect(meta.FindStatusCondition(p.Status.Conditions, ConditionReady).Reason).To(Equal(ReasonVerified))
		Expect(p.Status.Verification).To(ContainElement(
			v1alpha1.PackageSubmissionResult{Path: "accepted/sum.py", Expected: "ACCEPTED", Verdict: "ACCEPTED", Agrees: true}))
		var children v1alpha1.SubmissionList
		Expect(k8sClient.List(ctx, &children, client.InNamespace(ns), client.MatchingLabels{VerifiesLabel: "sum"})).To(Succeed())
		Expect(children.Items).To(HaveLen(len(p.Status.Verification)))
		for _, c := range children.Items {
			Expect(c.OwnerReferences).To(HaveLen(1))
			Expect(c.OwnerReferences[0].Name).To(Equal("sum"))
			Expect(c.Labels).NotTo(HaveKey(v1alpha1.UserLabel), "verification is nobody's submission")
			Expect(c.Status.Phase).To(Equal(v1alpha1.PhaseCompleted))
		}
	})
})
