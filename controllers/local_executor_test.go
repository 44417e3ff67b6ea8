package controllers

import (
	"context"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/codequest-dev/codequest/api/v1alpha1"
	"github.com/codequest-dev/codequest/judge"
	"github.com/codequest-dev/codequest/sandbox"
	"github.com/codequest-dev/codequest/sandbox/sandboxtest"
)

var _ = Describe("Single-machine mode: the local executor", Ordered, func() {
	const ns = "codequest-local"
	var (
		ctx = context.Background()
		mgr *manager
		sb  *sandbox.Sandbox
		j   *judge.Judge
	)
	BeforeAll(func() {
		Expect(os.Geteuid()).To(Equal(0), "the judge's sandbox needs root (namespaces, cgroups)")
		var err error
		sb, err = sandbox.New(ctx, sandbox.Config{InitPath: sandboxtest.BuildInit(GinkgoT())})
		Expect(err).NotTo(HaveOccurred())
		j, err = judge.New(judge.Config{Sandbox: sb, CacheDir: filepath.Join(GinkgoT().TempDir(), "judge")})
		Expect(err).NotTo(HaveOccurred())
		pkgs := NewPackageCache(objects, GinkgoT().TempDir())
		mgr = startManager(ns, func(ctrl.Manager) Executor { return NewLocalExecutor(j, pkgs, objects, 2, 100) }, j)
	})
	AfterAll(func() {
		if mgr != nil {
			mgr.stop()
		}
		if sb != nil {
			Expect(sb.Close()).To(Succeed())
		}
	})

	It("verifies the package's labelled submissions before Ready", func() {
		p := readyProblem(ctx, ns, "sum", nil)
		Expect(p.Status.TestCount).To(Equal(int32(3)))
		Expect(meta.FindStatusCondition(p.Status.Conditions, ConditionReady).Reason).To(Equal(ReasonVerified))
		Expect(p.Status.Verification).To(ConsistOf(
			v1alpha1.PackageSubmissionResult{Path: "accepted/sum.py", Expected: "ACCEPTED", Verdict: "ACCEPTED", Agrees: true},
			v1alpha1.PackageSubmissionResult{Path: "wrong_answer/diff.py", Expected: "WRONG_ANSWER", Verdict: "WRONG_ANSWER", Agrees: true},
		))
	})

	It("judges Submissions with the same judge and sandbox code the pods run", func() {
		ok := newSubmission(ns, "ok", "sum", "a, b = map(int, input().split())\nprint(a + b)\n")
		wa := newSubmission(ns, "wa", "sum", "a, b = map(int, input().split())\nprint(a - b)\n")
		run := newSubmission(ns, "run", "sum", "a, b = map(int, input().split())\nprint(a * b)\n")
		run.Spec.Mode, run.Spec.Input = v1alpha1.ModeRun, ptr.To("6 7\n")
		for _, s := range []*v1alpha1.Submission{ok, wa, run} {
			Expect(k8sClient.Create(ctx, s)).To(Succeed())
		}
		Eventually(func(g Gomega) {
			s := getSub(ctx, g, ok)
			g.Expect(s.Status.Phase).To(Equal(v1alpha1.PhaseCompleted))
			g.Expect(s.Status.Verdict).To(Equal(v1alpha1.VerdictAccepted))
			g.Expect(s.Status.TestsPassed).To(Equal(int32(3)))
			g.Expect(s.Status.Tests).To(HaveLen(3))
			g.Expect(s.Status.PeakMemory.IsZero()).To(BeFalse())
		}, "2m").Should(Succeed())
		Eventually(func(g Gomega) {
			s := getSub(ctx, g, wa)
			g.Expect(s.Status.Verdict).To(Equal(v1alpha1.VerdictWrongAnswer))
			g.Expect(s.Status.TestsPassed).To(Equal(int32(0)))
		}, "2m").Should(Succeed())
		Eventually(func(g Gomega) {
			s := getSub(ctx, g, run)
			g.Expect(s.Status.Verdict).To(Equal(v1alpha1.VerdictAccepted))
			g.Expect(s.Status.TestsTotal).To(Equal(int32(1)))
		}, "2m").Should(Succeed())
	})

	It("writes progress at most once an interval, yet within one", func() {
		// Each test takes half a second: the first write after the start
		// comes one progress interval in, while test 1 still runs.
		slow := newSubmission(ns, "slow", "sum", "import time\ntime.sleep(0.5)\na, b = map(int, input().split())\nprint(a + b)\n")
		Expect(k8sClient.Create(ctx, slow)).To(Succeed())
		Eventually(func(g Gomega) {
			s := getSub(ctx, g, slow)
			g.Expect(s.Status.Phase).To(Equal(v1alpha1.PhaseRunning), "%+v", s.Status)
			g.Expect(s.Status.CurrentTest).To(BeEquivalentTo(1))
			g.Expect(s.Status.TestsPassed).To(BeEquivalentTo(0))
		}, "30s", "10ms").Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(getSub(ctx, g, slow).Status.Verdict).To(Equal(v1alpha1.VerdictAccepted))
		}, "2m").Should(Succeed())
	})

	It("refuses to make a Problem Ready when a labelled submission disagrees", func() {
		dir := GinkgoT().TempDir()
		Expect(os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "sum")))).To(Succeed())
		// Label the wrong program as accepted.
		Expect(os.Rename(filepath.Join(dir, "submissions", "wrong_answer", "diff.py"),
			filepath.Join(dir, "submissions", "accepted", "diff.py"))).To(Succeed())
		ref := objects.put("problems", "bad.tar.gz", tarGz(dir))
		p := &v1alpha1.Problem{}
		p.Name, p.Namespace = "bad", ns
		p.Spec = v1alpha1.ProblemSpec{Title: "Bad", Limits: v1alpha1.ProblemLimits{TimeMillis: 1000}, Package: ref}
		p.Spec.Limits.Memory.Set(256 << 20)
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
			c := meta.FindStatusCondition(p.Status.Conditions, ConditionReady)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(BeEquivalentTo("False"))
			g.Expect(c.Reason).To(Equal(ReasonVerificationFailed))
		}, "2m").Should(Succeed())
	})
})
