package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/codequest-dev/codequest/api/v1alpha1"
	"github.com/codequest-dev/codequest/judge"
	"github.com/codequest-dev/codequest/judge/jobrun"
)

// fakeLogs plays the kubelet's pod log endpoint.
type fakeLogs struct {
	mu   sync.Mutex
	logs map[string]string
}

func (f *fakeLogs) set(pod, log string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs[pod] = log
}

func (f *fakeLogs) TailLog(ctx context.Context, ns, pod, container string, lines int64) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l, ok := f.logs[pod]; ok {
		return l, nil
	}
	return "", fmt.Errorf("no log for %s", pod)
}

var logs = &fakeLogs{logs: map[string]string{}}

func jobExecutor(mgr ctrl.Manager) Executor {
	return NewJobExecutor(mgr.GetClient(), mgr.GetScheme(), objects, logs, JobConfig{
		DefaultImage: "ghcr.io/codequest-dev/judge:test", ReportBucket: "reports",
		PollInterval: 200 * time.Millisecond,
	})
}

// jobOf waits for the Submission's Job.
func jobOf(ctx context.Context, sub *v1alpha1.Submission) *batchv1.Job {
	job := &batchv1.Job{}
	Eventually(func() error {
		return k8sClient.Get(ctx, client.ObjectKey{Namespace: sub.Namespace, Name: JobName(sub.Name)}, job)
	}, 30*time.Second, 50*time.Millisecond).Should(Succeed())
	return job
}

// createPod plays the Job controller: the Job's pod, as it would make it.
func createPod(ctx context.Context, job *batchv1.Job, suffix string) *corev1.Pod {
	labels := map[string]string{}
	for k, v := range job.Spec.Template.Labels {
		labels[k] = v
	}
	labels[batchv1.ControllerUidLabel] = string(job.UID)
	labels[batchv1.JobNameLabel] = job.Name
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: job.Name + "-" + suffix, Namespace: job.Namespace, Labels: labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))},
		},
		Spec: *job.Spec.Template.Spec.DeepCopy(),
	}
	pod.Spec.NodeName = "node-1"
	Expect(k8sClient.Create(ctx, pod)).To(Succeed())
	return pod
}

// setPod plays the kubelet: the pod's phase and the judge container's state.
func setPod(ctx context.Context, pod *corev1.Pod, phase corev1.PodPhase, state corev1.ContainerState, conds ...corev1.PodCondition) {
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pod), pod)).To(Succeed())
	pod.Status.Phase = phase
	pod.Status.Conditions = conds
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: JudgeContainer, Image: pod.Spec.Containers[0].Image, State: state,
		Ready: phase == corev1.PodRunning, Started: ptr.To(phase == corev1.PodRunning),
	}}
	Expect(k8sClient.Status().Update(ctx, pod)).To(Succeed())
}

func terminated(code int32, reason, msg string) corev1.ContainerState {
	now := metav1.Now()
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: code, Reason: reason, Message: msg, StartedAt: now, FinishedAt: now,
	}}
}

func running() corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}
}

// finishJob plays the Job controller's final status update.
func finishJob(ctx context.Context, job *batchv1.Job, complete bool, reason string) {
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(job), job)).To(Succeed())
	now := metav1.Now()
	if job.Status.StartTime == nil {
		job.Status.StartTime = &now
	}
	job.Status.Active, job.Status.Ready = 0, ptr.To[int32](0)
	if complete {
		job.Status.Succeeded = 1
		job.Status.CompletionTime = &now
		job.Status.Conditions = append(job.Status.Conditions,
			batchv1.JobCondition{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, Reason: "CompletionsReached", LastTransitionTime: now, LastProbeTime: now},
			batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, Reason: "CompletionsReached", LastTransitionTime: now, LastProbeTime: now})
	} else {
		job.Status.Failed = 1
		job.Status.Conditions = append(job.Status.Conditions,
			batchv1.JobCondition{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: reason, LastTransitionTime: now, LastProbeTime: now},
			batchv1.JobCondition{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: reason, LastTransitionTime: now, LastProbeTime: now})
	}
	Expect(k8sClient.Status().Update(ctx, job)).To(Succeed())
}

func startJob(ctx context.Context, job *batchv1.Job) {
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(job), job)).To(Succeed())
	now := metav1.Now()
	job.Status.StartTime = &now
	job.Status.Active = 1
	Expect(k8sClient.Status().Update(ctx, job)).To(Succeed())
}

func compactJSON(r judge.Result) string {
	b, err := r.MarshalCompact(jobrun.MaxTerminationMessage)
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}

var _ = Describe("Submission reconciler with the Job executor", Ordered, func() {
	var (
		ctx  = context.Background()
		mgr  *manager
		prob *v1alpha1.Problem
	)
	BeforeAll(func() {
		mgr = startManager(judgeNS, jobExecutor, nil)
		prob = readyProblem(ctx, judgeNS, "sum", nil)
	})
	AfterAll(func() {
		if mgr != nil {
			mgr.stop()
		}
	})

	It("counts the package's tests", func() {
		Expect(prob.Status.TestCount).To(Equal(int32(3)))
		Expect(prob.Status.ObservedSHA256).To(Equal(prob.Spec.Package.SHA256))
	})

	It("creates one Job that carries every security field", func() {
		sub := newSubmission(judgeNS, "secure", "sum", "print(3)\n")
		Expect(k8sClient.Create(ctx, sub)).To(Succeed())
		job := jobOf(ctx, sub)

		By("naming, labels and ownership")
		Expect(job.Name).To(Equal("secure-judge"))
		Expect(job.Labels).To(HaveKeyWithValue(v1alpha1.SubmissionLabel, "secure"))
		Expect(job.Labels).To(HaveKeyWithValue(v1alpha1.ProblemLabel, "sum"))
		Expect(job.Labels).To(HaveKeyWithValue(v1alpha1.LanguageLabel, "python3"))
		Expect(job.Spec.Template.Labels).To(HaveKeyWithValue(v1alpha1.ComponentLabel, "judge"))
		owner := metav1.GetControllerOf(job)
		Expect(owner).NotTo(BeNil())
		Expect(owner.UID).To(Equal(getSub(ctx, Default, sub).UID))
		Expect(owner.BlockOwnerDeletion).To(Equal(ptr.To(true)))

		By("the Job's own fields")
		s := job.Spec
		Expect(s.BackoffLimit).To(Equal(ptr.To[int32](0)))
		// compile 60 s + 3 tests × (3 × 1 s + 5 s) + slack 60 s
		Expect(s.ActiveDeadlineSeconds).To(Equal(ptr.To[int64](60 + 3*8 + 60)))
		Expect(s.TTLSecondsAfterFinished).To(Equal(ptr.To[int32](3600)))
		Expect(s.PodFailurePolicy).NotTo(BeNil())
		Expect(s.PodFailurePolicy.Rules).To(HaveLen(3))
		Expect(s.PodFailurePolicy.Rules[0].Action).To(Equal(batchv1.PodFailurePolicyActionIgnore))
		Expect(s.PodFailurePolicy.Rules[0].OnPodConditions).To(ConsistOf(batchv1.PodFailurePolicyOnPodConditionsPattern{
			Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}))
		By("a judge stopped from outside (pod deleted, node drained) is judged again, not failed")
		Expect(s.PodFailurePolicy.Rules[1].Action).To(Equal(batchv1.PodFailurePolicyActionIgnore))
		Expect(s.PodFailurePolicy.Rules[1].OnExitCodes.Operator).To(Equal(batchv1.PodFailurePolicyOnExitCodesOpIn))
		Expect(s.PodFailurePolicy.Rules[1].OnExitCodes.Values).To(Equal([]int32{jobrun.ExitInterrupted}))
		Expect(s.PodFailurePolicy.Rules[2].Action).To(Equal(batchv1.PodFailurePolicyActionFailJob))
		Expect(s.PodFailurePolicy.Rules[2].OnExitCodes.Operator).To(Equal(batchv1.PodFailurePolicyOnExitCodesOpNotIn))
		Expect(s.PodFailurePolicy.Rules[2].OnExitCodes.Values).To(Equal([]int32{0}))

		By("the pod")
		p := s.Template.Spec
		Expect(p.RuntimeClassName).To(Equal(ptr.To("gvisor")))
		Expect(p.RestartPolicy).To(Equal(corev1.RestartPolicyNever))
		Expect(p.AutomountServiceAccountToken).To(Equal(ptr.To(false)))
		Expect(p.EnableServiceLinks).To(Equal(ptr.To(false)))
		Expect(p.HostNetwork || p.HostPID || p.HostIPC).To(BeFalse())
		Expect(p.SecurityContext.SeccompProfile.Type).To(Equal(corev1.SeccompProfileTypeRuntimeDefault))
		Expect(p.Containers).To(HaveLen(1))
		c := p.Containers[0]
		Expect(c.Image).To(Equal("ghcr.io/codequest-dev/judge:test"))
		Expect(c.Args).To(Equal([]string{"job", "--spec", "/run/codequest/spec/spec.json"}))
		Expect(c.TerminationMessagePath).To(Equal("/dev/termination-log"))
		Expect(c.TerminationMessagePolicy).To(Equal(corev1.TerminationMessageReadFile))

		By("Guaranteed QoS: requests equal limits")
		Expect(c.Resources.Requests).To(Equal(c.Resources.Limits))
		Expect(c.Resources.Limits.Cpu().String()).To(Equal("1"))
		// max(256Mi problem, 1Gi compile) + 256Mi overhead
		Expect(c.Resources.Limits.Memory().String()).To(Equal("1280Mi"))

		By("the container's security context")
		sc := c.SecurityContext
		Expect(sc.ReadOnlyRootFilesystem).To(Equal(ptr.To(true)))
		Expect(sc.Privileged).To(Equal(ptr.To(false)))
		Expect(sc.RunAsUser).To(Equal(ptr.To[int64](0)))
		Expect(sc.Capabilities.Drop).To(ConsistOf(corev1.Capability("ALL")))
		Expect(sc.Capabilities.Add).To(ConsistOf(JudgeCapabilities))
		Expect(sc.AllowPrivilegeEscalation).To(Equal(allowPrivilegeEscalation))

		By("volumes: the spec Secret read-only, a size-limited emptyDir")
		Expect(c.VolumeMounts).To(ContainElement(corev1.VolumeMount{Name: "spec", MountPath: "/run/codequest/spec", ReadOnly: true}))
		Expect(c.VolumeMounts).To(ContainElement(corev1.VolumeMount{Name: "work", MountPath: "/work"}))
		Expect(p.Volumes).To(HaveLen(2))
		Expect(p.Volumes[0].Secret.SecretName).To(Equal(job.Name))
		Expect(p.Volumes[0].Secret.DefaultMode).To(Equal(ptr.To[int32](0o400)))
		Expect(p.Volumes[1].EmptyDir.SizeLimit.String()).To(Equal("2Gi"))

		By("the Secret: owned, immutable, the judging spec with presigned URLs")
		secret := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(job), secret)).To(Succeed())
		Expect(metav1.GetControllerOf(secret).UID).To(Equal(owner.UID))
		Expect(secret.Immutable).To(Equal(ptr.To(true)))
		var spec jobrun.Spec
		Expect(json.Unmarshal(secret.Data[jobrun.SpecFile], &spec)).To(Succeed())
		Expect(spec.Validate()).To(Succeed())
		Expect(*spec.Source).To(Equal("print(3)\n"))
		Expect(spec.Package.SHA256).To(Equal(prob.Spec.Package.SHA256))
		Expect(spec.Package.URL).To(HavePrefix("http://objects.test/problems/"))
		Expect(spec.ReportURL).To(ContainSubstring("reports/codequest-judge/secure-"))
		Expect(spec.Limits).To(Equal(jobrun.Limits{TimeMillis: 1000, MemoryBytes: 256 << 20, CompileMemoryBytes: 1 << 30}))

		By("the status")
		Eventually(func(g Gomega) {
			s := getSub(ctx, g, sub)
			g.Expect(s.Status.Phase).To(Equal(v1alpha1.PhaseQueued))
			g.Expect(s.Status.JobRef).To(Equal(&v1alpha1.JobReference{Name: job.Name, UID: job.UID}))
			g.Expect(meta.IsStatusConditionTrue(s.Status.Conditions, ConditionScheduled)).To(BeTrue())
			g.Expect(s.Status.StartTime).NotTo(BeNil())
		}).Should(Succeed())
	})

	It("shows progress while running and records the termination message", func() {
		sub := newSubmission(judgeNS, "wa", "sum", "print(3)\n")
		Expect(k8sClient.Create(ctx, sub)).To(Succeed())
		job := jobOf(ctx, sub)
		startJob(ctx, job)
		pod := createPod(ctx, job, "a")

		By("a running pod whose log says test 2/3")
		logs.set(pod.Name, "compiling\n"+jobrun.Progress{Phase: "running", Test: 2, Total: 3, Passed: 1, Verdict: "AC"}.Line()+"\n")
		setPod(ctx, pod, corev1.PodRunning, running())
		Eventually(func(g Gomega) {
			s := getSub(ctx, g, sub)
			g.Expect(s.Status.Phase).To(Equal(v1alpha1.PhaseRunning))
			g.Expect(s.Status.CurrentTest).To(Equal(int32(2)))
			g.Expect(s.Status.TestsTotal).To(Equal(int32(3)))
			g.Expect(s.Status.Message).To(Equal("Running test 2/3"))
		}).Should(Succeed())

		By("the judge's compact result in the termination message")
		res := judge.Result{Verdict: judge.WrongAnswer, Passed: 1, Total: 3, MaxCPUMillis: 25, PeakMemoryKiB: 9000,
			Message: "WA on secret/1", Tests: []judge.TestResult{
				{Name: "sample/1", Verdict: judge.Accepted, CPUMillis: 20, MemoryKiB: 8000},
				{Name: "secret/1", Verdict: judge.WrongAnswer, CPUMillis: 25, MemoryKiB: 9000},
			}}
		setPod(ctx, pod, corev1.PodSucceeded, terminated(0, "Completed", compactJSON(res)))
		finishJob(ctx, job, true, "")
		Eventually(func(g Gomega) {
			s := getSub(ctx, g, sub)
			g.Expect(s.Status.Phase).To(Equal(v1alpha1.PhaseCompleted))
			g.Expect(s.Status.Verdict).To(Equal(v1alpha1.VerdictWrongAnswer))
			g.Expect(s.Status.TestsPassed).To(Equal(int32(1)))
			g.Expect(s.Status.TestsTotal).To(Equal(int32(3)))
			g.Expect(s.Status.MaxCPUTime.Duration).To(Equal(25 * time.Millisecond))
			g.Expect(s.Status.PeakMemory.Value()).To(Equal(int64(9000 << 10)))
			g.Expect(s.Status.Tests).To(Equal([]v1alpha1.TestSummary{
				{Verdict: v1alpha1.VerdictAccepted, CPUMillis: 20, MemoryKiB: 8000},
				{Verdict: v1alpha1.VerdictWrongAnswer, CPUMillis: 25, MemoryKiB: 9000},
			}))
			g.Expect(s.Status.Message).To(Equal("WA on secret/1"))
			g.Expect(s.Status.Report).To(Equal("reports/reports/codequest-judge/wa-" + string(s.UID) + ".json"))
			g.Expect(s.Status.CompletionTime).NotTo(BeNil())
			c := meta.FindStatusCondition(s.Status.Conditions, ConditionJudged)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		}).Should(Succeed())

		By("the Job is deleted once the verdict is recorded, freeing its quota")
		Eventually(func() bool {
			err := k8sClient.Get(ctx, client.ObjectKeyFromObject(job), job)
			return isNotFound(err) || !job.DeletionTimestamp.IsZero()
		}).Should(BeTrue())

		By("Events for the Job and the outcome, none for each phase")
		Eventually(func(g Gomega) {
			var evs corev1.EventList
			g.Expect(k8sClient.List(ctx, &evs, client.InNamespace(judgeNS))).To(Succeed())
			var reasons []string
			for _, e := range evs.Items {
				if e.InvolvedObject.Name == "wa" && e.InvolvedObject.Kind == "Submission" {
					reasons = append(reasons, e.Reason)
				}
			}
			g.Expect(reasons).To(ConsistOf(ReasonStarted, ReasonJudged))
		}).Should(Succeed())
	})

	It("records a compilation error's compiler message", func() {
		sub := newSubmission(judgeNS, "ce", "sum", "print(\n")
		Expect(k8sClient.Create(ctx, sub)).To(Succeed())
		job := jobOf(ctx, sub)
		pod := createPod(ctx, job, "a")
		res := judge.Result{Verdict: judge.CompilationError, Total: 3, CompileOutput: "SyntaxError: '(' was never closed"}
		setPod(ctx, pod, corev1.PodSucceeded, terminated(0, "Completed", compactJSON(res)))
		finishJob(ctx, job, true, "")
		Eventually(func(g Gomega) {
			s := getSub(ctx, g, sub)
			g.Expect(s.Status.Phase).To(Equal(v1alpha1.PhaseCompleted))
			g.Expect(s.Status.Verdict).To(Equal(v1alpha1.VerdictCompilationError))
			g.Expect(s.Status.CompilerMessage).To(ContainSubstring("never closed"))
		}).Should(Succeed())
	})

	It("retries an infrastructure disruption and takes the replacement pod's verdict", func() {
		sub := newSubmission(judgeNS, "evicted", "sum", "print(3)\n")
		Expect(k8sClient.Create(ctx, sub)).To(Succeed())
		job := jobOf(ctx, sub)
		startJob(ctx, job)
		first := createPod(ctx, job, "a")
		setPod(ctx, first, corev1.PodFailed, terminated(137, "Error", ""),
			corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "EvictionByEvictionAPI", LastTransitionTime: metav1.Now()})
		// The Job controller ignores it (podFailurePolicy Ignore): no
		// terminal condition, a new pod.
		Consistently(func(g Gomega) {
			g.Expect(getSub(ctx, g, sub).Status.Phase.Finished()).To(BeFalse())
		}, 2*time.Second, 200*time.Millisecond).Should(Succeed())

		second := createPod(ctx, job, "b")
		res := judge.Result{Verdict: judge.Accepted, Passed: 3, Total: 3, MaxCPUMillis: 12, PeakMemoryKiB: 7000}
		setPod(ctx, second, corev1.PodSucceeded, terminated(0, "Completed", compactJSON(res)))
		finishJob(ctx, job, true, "")
		Eventually(func(g Gomega) {
			s := getSub(ctx, g, sub)
			g.Expect(s.Status.Phase).To(Equal(v1alpha1.PhaseCompleted))
			g.Expect(s.Status.Verdict).To(Equal(v1alpha1.VerdictAccepted))
			g.Expect(s.Status.TestsPassed).To(Equal(int32(3)))
		}).Should(Succeed())
	})

	It("turns a user failure that killed the pod into a verdict, not a retry", func() {
		sub := newSubmission(judgeNS, "oom", "sum", "x = [0] * 10**10\n")
		Expect(k8sClient.Create(ctx, sub)).To(Succeed())
		job := jobOf(ctx, sub)
		pod := createPod(ctx, job, "a")
		// gVisor: the program exhausted the pod's memory, the sandbox was
		// killed (exit 128, OOMKilled); the Job fails by podFailurePolicy.
		setPod(ctx, pod, corev1.PodFailed, terminated(128, "OOMKilled", ""))
		finishJob(ctx, job, false, batchv1.JobReasonPodFailurePolicy)
		Eventually(func(g Gomega) {
			s := getSub(ctx, g, sub)
			g.Expect(s.Status.Phase).To(Equal(v1alpha1.PhaseCompleted))
			g.Expect(s.Status.Verdict).To(Equal(v1alpha1.VerdictMemoryLimitExceeded))
		}).Should(Succeed())
	})

	It("fails the judging when the Job passes its deadline", func() {
		sub := newSubmission(judgeNS, "slow", "sum", "print(3)\n")
		Expect(k8sClient.Create(ctx, sub)).To(Succeed())
		job := jobOf(ctx, sub)
		finishJob(ctx, job, false, batchv1.JobReasonDeadlineExceeded)
		Eventually(func(g Gomega) {
			s := getSub(ctx, g, sub)
			g.Expect(s.Status.Phase).To(Equal(v1alpha1.PhaseFailed))
			g.Expect(s.Status.Verdict).To(Equal(v1alpha1.VerdictInternalError))
			g.Expect(meta.FindStatusCondition(s.Status.Conditions, ConditionJudged).Reason).To(Equal("DeadlineExceeded"))
		}).Should(Succeed())
	})

	It("keeps a Submission Queued while the quota refuses its Job, then judges it", func() {
		quota := &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Name: "judge", Namespace: judgeNS},
			Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"count/jobs.batch": resource.MustParse("0")}},
		}
		Expect(k8sClient.Create(ctx, quota)).To(Succeed())
		// Play the quota controller: publish hard and used.
		quota.Status = corev1.ResourceQuotaStatus{Hard: quota.Spec.Hard, Used: corev1.ResourceList{"count/jobs.batch": resource.MustParse("0")}}
		Expect(k8sClient.Status().Update(ctx, quota)).To(Succeed())
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, quota)).To(Succeed()) })

		sub := newSubmission(judgeNS, "quota", "sum", "print(3)\n")
		Expect(k8sClient.Create(ctx, sub)).To(Succeed())
		Eventually(func(g Gomega) {
			s := getSub(ctx, g, sub)
			g.Expect(s.Status.Phase).To(Equal(v1alpha1.PhaseQueued))
			c := meta.FindStatusCondition(s.Status.Conditions, ConditionScheduled)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Reason).To(Equal(ReasonQuotaExceeded))
		}).Should(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: judgeNS, Name: JobName(sub.Name)}, &batchv1.Job{})).To(Satisfy(isNotFound))

		By("the quota frees")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(quota), quota)).To(Succeed())
		quota.Spec.Hard["count/jobs.batch"] = resource.MustParse("100")
		Expect(k8sClient.Update(ctx, quota)).To(Succeed())
		quota.Status.Hard = quota.Spec.Hard
		Expect(k8sClient.Status().Update(ctx, quota)).To(Succeed())
		job := jobOf(ctx, sub)
		Eventually(func(g Gomega) {
			s := getSub(ctx, g, sub)
			g.Expect(meta.IsStatusConditionTrue(s.Status.Conditions, ConditionScheduled)).To(BeTrue())
			g.Expect(s.Status.JobRef.Name).To(Equal(job.Name))
		}).Should(Succeed())
	})

	It("waits for the Problem to be Ready", func() {
		sub := newSubmission(judgeNS, "early", "later", "print(3)\n")
		Expect(k8sClient.Create(ctx, sub)).To(Succeed())
		Eventually(func(g Gomega) {
			c := meta.FindStatusCondition(getSub(ctx, g, sub).Status.Conditions, ConditionScheduled)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(ReasonProblemNotFound))
		}).Should(Succeed())
		readyProblem(ctx, judgeNS, "later", nil)
		jobOf(ctx, sub)
	})

	It("makes the Job and Secret cascade with the Submission", func() {
		sub := newSubmission(judgeNS, "cascade", "sum", "print(3)\n")
		Expect(k8sClient.Create(ctx, sub)).To(Succeed())
		job := jobOf(ctx, sub)
		secret := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(job), secret)).To(Succeed())
		uid := getSub(ctx, Default, sub).UID
		for _, o := range []client.Object{job, secret} {
			refs := o.GetOwnerReferences()
			Expect(refs).To(HaveLen(1))
			Expect(refs[0]).To(Equal(metav1.OwnerReference{
				APIVersion: "codequest.dev/v1alpha1", Kind: "Submission", Name: "cascade", UID: uid,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}))
		}
		// Foreground deletion: the API server keeps the Submission until
		// the garbage collector has removed its dependents (envtest runs
		// no garbage collector, so the finalizer it adds shows the intent).
		Expect(k8sClient.Delete(ctx, sub, client.PropagationPolicy(metav1.DeletePropagationForeground))).To(Succeed())
		s := getSub(ctx, Default, sub)
		Expect(s.DeletionTimestamp).NotTo(BeNil())
		Expect(s.Finalizers).To(ContainElement(metav1.FinalizerDeleteDependents))
	})

	It("neither loses nor duplicates a Job across a controller restart", func() {
		sub := newSubmission(judgeNS, "restart", "sum", "print(3)\n")
		Expect(k8sClient.Create(ctx, sub)).To(Succeed())
		job := jobOf(ctx, sub)
		mgr.stop()
		mgr = nil

		By("while the controller is down the pod runs and finishes")
		pod := createPod(ctx, job, "a")
		res := judge.Result{Verdict: judge.Accepted, Passed: 3, Total: 3}
		setPod(ctx, pod, corev1.PodSucceeded, terminated(0, "Completed", compactJSON(res)))

		By("a new controller takes over")
		mgr = startManager(judgeNS, jobExecutor, nil)
		Consistently(func(g Gomega) {
			var jobs batchv1.JobList
			g.Expect(k8sClient.List(ctx, &jobs, client.InNamespace(judgeNS), client.MatchingLabels{v1alpha1.SubmissionLabel: "restart"})).To(Succeed())
			g.Expect(jobs.Items).To(HaveLen(1))
			g.Expect(jobs.Items[0].UID).To(Equal(job.UID))
		}, 2*time.Second, 100*time.Millisecond).Should(Succeed())
		finishJob(ctx, job, true, "")
		Eventually(func(g Gomega) {
			s := getSub(ctx, g, sub)
			g.Expect(s.Status.Verdict).To(Equal(v1alpha1.VerdictAccepted))
			g.Expect(s.Status.JobRef.UID).To(Equal(job.UID))
		}).Should(Succeed())
	})
})
