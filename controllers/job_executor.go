package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/codequest-dev/codequest/api/v1alpha1"
	"github.com/codequest-dev/codequest/judge"
	"github.com/codequest-dev/codequest/judge/jobrun"
)

// JudgeContainer is the name of the judge container in a judge pod.
const JudgeContainer = "judge"

// Paths inside a judge pod.
const (
	workDir = "/work"
)

// JobConfig configures the judge Jobs.
type JobConfig struct {
	// RuntimeClassName is the judge pods' RuntimeClass (default gvisor).
	RuntimeClassName string
	// Images maps a language to its judge image; DefaultImage serves the
	// others.
	Images       map[v1alpha1.Language]string
	DefaultImage string
	// Command starts the judge in the image (default ["judge"]).
	Command []string
	// ImagePullPolicy of the judge container (default IfNotPresent).
	ImagePullPolicy corev1.PullPolicy
	// CPU is the CPU request and limit of a judge pod (default 1).
	CPU resource.Quantity
	// MemoryOverhead is added to the larger of the problem's memory limit
	// and CompileMemory for the pod's memory request and limit (default
	// 256Mi: the judge itself, the package, the toolchain's page cache).
	MemoryOverhead resource.Quantity
	// CompileMemory bounds a compile (default 1Gi).
	CompileMemory resource.Quantity
	// WorkSize is the size limit of the emptyDir work folder (default 2Gi).
	WorkSize resource.Quantity
	// CompileTime is the compile's share of the deadline (default 60 s);
	// DeadlineSlack is added to compile + tests × wall limit (default 60 s).
	CompileTime, DeadlineSlack time.Duration
	// TTLAfterFinished is the Job's ttlSecondsAfterFinished (default 1 h):
	// a backstop, the controller deletes a Job once its outcome is recorded.
	TTLAfterFinished time.Duration
	// PollInterval is how often a running judging's progress is read from
	// its pod's log (default 2 s; 0 in tests keeps the default).
	PollInterval time.Duration
	// ReportBucket receives the full reports (reports/<ns>/<name>.json);
	// empty: no report upload.
	ReportBucket string
	// URLTTL is added to the Job's deadline for the presigned URLs' life
	// (default 1 h).
	URLTTL time.Duration
}

func (c *JobConfig) defaults() {
	if c.RuntimeClassName == "" {
		c.RuntimeClassName = "gvisor"
	}
	if len(c.Command) == 0 {
		c.Command = []string{"judge"}
	}
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = corev1.PullIfNotPresent
	}
	if c.CPU.IsZero() {
		c.CPU = resource.MustParse("1")
	}
	if c.MemoryOverhead.IsZero() {
		c.MemoryOverhead = resource.MustParse("256Mi")
	}
	if c.CompileMemory.IsZero() {
		c.CompileMemory = resource.MustParse("1Gi")
	}
	if c.WorkSize.IsZero() {
		c.WorkSize = resource.MustParse("2Gi")
	}
	if c.CompileTime == 0 {
		c.CompileTime = time.Minute
	}
	if c.DeadlineSlack == 0 {
		c.DeadlineSlack = time.Minute
	}
	if c.TTLAfterFinished == 0 {
		c.TTLAfterFinished = time.Hour
	}
	if c.PollInterval == 0 {
		c.PollInterval = 2 * time.Second
	}
	if c.URLTTL == 0 {
		c.URLTTL = time.Hour
	}
}

// Presigner makes time-limited URLs for objects, so judge pods need no
// credentials.
type Presigner interface {
	PresignGet(ctx context.Context, bucket, key string, ttl time.Duration) (string, error)
	PresignPut(ctx context.Context, bucket, key string, ttl time.Duration) (string, error)
}

// LogReader reads the tail of a pod container's log.
type LogReader interface {
	TailLog(ctx context.Context, namespace, pod, container string, lines int64) (string, error)
}

// JobExecutor judges each Submission in one Kubernetes Job, in the
// Submission's namespace, running `judge job` in a gVisor pod.
type JobExecutor struct {
	client client.Client
	scheme *runtime.Scheme
	urls   Presigner
	logs   LogReader
	cfg    JobConfig
}

// NewJobExecutor returns a JobExecutor. logs may be nil (no progress while
// running: phases only).
func NewJobExecutor(c client.Client, scheme *runtime.Scheme, urls Presigner, logs LogReader, cfg JobConfig) *JobExecutor {
	cfg.defaults()
	return &JobExecutor{client: c, scheme: scheme, urls: urls, logs: logs, cfg: cfg}
}

var _ Executor = (*JobExecutor)(nil)

func (e *JobExecutor) watch(b *builder.Builder) *builder.Builder {
	return b.Owns(&batchv1.Job{})
}

// JobName is the deterministic name of a Submission's Job (and Secret):
// "<name>-judge", or a cut name with a hash when that is longer than 63.
func JobName(sub string) string {
	const suffix = "-judge"
	if len(sub)+len(suffix) <= 63 {
		return sub + suffix
	}
	h := sha256.Sum256([]byte(sub))
	return strings.TrimRight(sub[:63-len(suffix)-9], "-.") + "-" + hex.EncodeToString(h[:])[:8] + suffix
}

// Labels of a Submission's Job, pods and Secret.
func judgeLabels(sub *v1alpha1.Submission) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":       "codequest",
		v1alpha1.ComponentLabel:        "judge",
		"app.kubernetes.io/managed-by": "codequest-controller",
		v1alpha1.SubmissionLabel:       labelValue(sub.Name),
		v1alpha1.ProblemLabel:          labelValue(sub.Spec.ProblemRef.Name),
		v1alpha1.LanguageLabel:         string(sub.Spec.Language),
	}
}

func labelValue(s string) string {
	if len(s) <= 63 {
		return s
	}
	h := sha256.Sum256([]byte(s))
	return strings.TrimRight(s[:54], "-.") + "-" + hex.EncodeToString(h[:])[:8]
}

// Start creates the Submission's Secret (its judging spec) and Job. Both
// have deterministic names, so a repeated Start creates nothing new.
func (e *JobExecutor) Start(ctx context.Context, sub *v1alpha1.Submission, prob *v1alpha1.Problem) (*v1alpha1.JobReference, error) {
	name := JobName(sub.Name)
	deadline := e.deadline(sub, prob)
	spec, err := e.judgeSpec(ctx, sub, prob, deadline+e.cfg.URLTTL)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: sub.Namespace, Labels: judgeLabels(sub)},
		Type:       corev1.SecretTypeOpaque,
		Immutable:  ptr.To(true),
		Data:       map[string][]byte{jobrun.SpecFile: data},
	}
	if err := controllerutil.SetControllerReference(sub, secret, e.scheme); err != nil {
		return nil, err
	}
	if err := e.client.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create judge secret: %w", quotaError(err))
	}
	job, err := e.Job(sub, prob)
	if err != nil {
		return nil, err
	}
	if err := e.client.Create(ctx, job); err != nil {
		if apierrors.IsAlreadyExists(err) {
			// Made by an earlier reconcile the cache has not caught up
			// with; Observe fills in its uid.
			return &v1alpha1.JobReference{Name: job.Name}, nil
		}
		return nil, fmt.Errorf("create judge job: %w", quotaError(err))
	}
	return &v1alpha1.JobReference{Name: job.Name, UID: job.UID}, nil
}

// quotaError marks a ResourceQuota refusal. The API reports it only as a
// Forbidden status whose message says "exceeded quota".
func quotaError(err error) error {
	if msg := err.Error(); apierrors.IsForbidden(err) && (strings.Contains(msg, "exceeded quota") || strings.Contains(msg, "status unknown for quota")) {
		return fmt.Errorf("%w: %v", ErrQuotaExceeded, err)
	}
	return err
}

// deadline is the Job's activeDeadlineSeconds: compile + tests × the wall
// limit of one test + slack.
func (e *JobExecutor) deadline(sub *v1alpha1.Submission, prob *v1alpha1.Problem) time.Duration {
	tests := int64(prob.Status.TestCount)
	if sub.Spec.Mode == v1alpha1.ModeRun || tests == 0 {
		tests = max(tests, 1)
		if sub.Spec.Mode == v1alpha1.ModeRun {
			tests = 1
		}
	}
	wall := judge.WallLimit(time.Duration(prob.Spec.Limits.TimeMillis) * time.Millisecond)
	return e.cfg.CompileTime + time.Duration(tests)*wall + e.cfg.DeadlineSlack
}

func (e *JobExecutor) judgeSpec(ctx context.Context, sub *v1alpha1.Submission, prob *v1alpha1.Problem, ttl time.Duration) (*jobrun.Spec, error) {
	l := prob.Spec.Limits
	spec := &jobrun.Spec{
		Submission: sub.Namespace + "/" + sub.Name,
		Language:   string(sub.Spec.Language),
		Mode:       string(sub.Spec.Mode),
		Limits: jobrun.Limits{
			TimeMillis: int64(l.TimeMillis), MemoryBytes: l.Memory.Value(),
			CompileMemoryBytes: e.cfg.CompileMemory.Value(),
		},
		Source: sub.Spec.Source.Inline,
		Input:  sub.Spec.Input,
	}
	if l.Output != nil {
		spec.Limits.OutputBytes = l.Output.Value()
	}
	if spec.Mode == "" {
		spec.Mode = string(v1alpha1.ModeSubmit)
	}
	if e.urls == nil {
		return nil, fmt.Errorf("no object storage configured: judge pods cannot fetch packages")
	}
	pkg := prob.Spec.Package
	u, err := e.urls.PresignGet(ctx, pkg.Bucket, pkg.Key, ttl)
	if err != nil {
		return nil, fmt.Errorf("presign package: %w", err)
	}
	spec.Package = jobrun.Download{URL: u, SHA256: pkg.SHA256, Size: pkg.Size}
	if o := sub.Spec.Source.Object; o != nil {
		u, err := e.urls.PresignGet(ctx, o.Bucket, o.Key, ttl)
		if err != nil {
			return nil, fmt.Errorf("presign source: %w", err)
		}
		spec.SourceObject = &jobrun.Download{URL: u, SHA256: o.SHA256, Size: o.Size}
	}
	if e.cfg.ReportBucket != "" {
		u, err := e.urls.PresignPut(ctx, e.cfg.ReportBucket, reportKey(sub), ttl)
		if err != nil {
			return nil, fmt.Errorf("presign report: %w", err)
		}
		spec.ReportURL = u
	}
	return spec, nil
}

func reportKey(sub *v1alpha1.Submission) string {
	return "reports/" + sub.Namespace + "/" + sub.Name + "-" + string(sub.UID) + ".json"
}

// Job is the judge Job of sub: every field a security review asks about is
// set here, each explained in docs/operator.md.
func (e *JobExecutor) Job(sub *v1alpha1.Submission, prob *v1alpha1.Problem) (*batchv1.Job, error) {
	name := JobName(sub.Name)
	labels := judgeLabels(sub)
	mem := prob.Spec.Limits.Memory.DeepCopy()
	if mem.Cmp(e.cfg.CompileMemory) < 0 {
		mem = e.cfg.CompileMemory.DeepCopy()
	}
	mem.Add(e.cfg.MemoryOverhead)
	resources := corev1.ResourceList{corev1.ResourceCPU: e.cfg.CPU, corev1.ResourceMemory: mem}
	image := e.cfg.DefaultImage
	if img, ok := e.cfg.Images[sub.Spec.Language]; ok {
		image = img
	}
	if image == "" {
		return nil, fmt.Errorf("no judge image for language %s", sub.Spec.Language)
	}
	workSize := e.cfg.WorkSize.DeepCopy()
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: sub.Namespace, Labels: labels},
		Spec: batchv1.JobSpec{
			BackoffLimit:            ptr.To[int32](0),
			ActiveDeadlineSeconds:   ptr.To(int64(e.deadline(sub, prob).Seconds())),
			TTLSecondsAfterFinished: ptr.To(int32(e.cfg.TTLAfterFinished.Seconds())),
			PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
				{
					// Evictions, preemptions, node drains: not the
					// submission's fault; the pod is replaced.
					Action: batchv1.PodFailurePolicyActionIgnore,
					OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{
						{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue},
					},
				},
				{
					// The judge was stopped (the pod deleted, the node
					// drained) before a verdict: judged again in a new pod.
					Action: batchv1.PodFailurePolicyActionIgnore,
					OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
						ContainerName: ptr.To(JudgeContainer),
						Operator:      batchv1.PodFailurePolicyOnExitCodesOpIn,
						Values:        []int32{jobrun.ExitInterrupted},
					},
				},
				{
					// Any other failure ends the Job: the judge exits 0
					// whenever it reached a verdict, and a killed sandbox
					// (the program took the whole pod down) is the
					// program's fault.
					Action: batchv1.PodFailurePolicyActionFailJob,
					OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
						ContainerName: ptr.To(JudgeContainer),
						Operator:      batchv1.PodFailurePolicyOnExitCodesOpNotIn,
						Values:        []int32{0},
					},
				},
			}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy:                 corev1.RestartPolicyNever,
					RuntimeClassName:              ptr.To(e.cfg.RuntimeClassName),
					AutomountServiceAccountToken:  ptr.To(false),
					EnableServiceLinks:            ptr.To(false),
					TerminationGracePeriodSeconds: ptr.To[int64](5),
					SecurityContext: &corev1.PodSecurityContext{
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:            JudgeContainer,
						Image:           image,
						ImagePullPolicy: e.cfg.ImagePullPolicy,
						Command:         e.cfg.Command,
						Args:            []string{"job", "--spec", jobrun.SpecDir + "/" + jobrun.SpecFile},
						Env: []corev1.EnvVar{
							{Name: "HOME", Value: workDir},
							{Name: "TMPDIR", Value: workDir + "/tmp"},
							{Name: "CODEQUEST_CACHE", Value: workDir + "/cache"},
							// The pod's IP, unique on its node, picks the
							// uids of its runs (sandbox.UIDBaseForPod).
							{Name: "CODEQUEST_POD_IP", ValueFrom: &corev1.EnvVarSource{
								FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"},
							}},
						},
						Resources: corev1.ResourceRequirements{Requests: resources, Limits: resources},
						SecurityContext: &corev1.SecurityContext{
							RunAsUser:                ptr.To[int64](0),
							RunAsNonRoot:             ptr.To(false),
							ReadOnlyRootFilesystem:   ptr.To(true),
							AllowPrivilegeEscalation: allowPrivilegeEscalation,
							Privileged:               ptr.To(false),
							Capabilities: &corev1.Capabilities{
								Drop: []corev1.Capability{"ALL"},
								Add:  JudgeCapabilities,
							},
						},
						TerminationMessagePath:   jobrun.TerminationLog,
						TerminationMessagePolicy: corev1.TerminationMessageReadFile,
						VolumeMounts: []corev1.VolumeMount{
							{Name: "spec", MountPath: jobrun.SpecDir, ReadOnly: true},
							{Name: "work", MountPath: workDir},
						},
					}},
					Volumes: []corev1.Volume{
						{Name: "spec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
							SecretName: name, DefaultMode: ptr.To[int32](0o400),
						}}},
						{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
							SizeLimit: &workSize,
						}}},
					},
				},
			},
		},
	}
	if err := controllerutil.SetControllerReference(sub, job, e.scheme); err != nil {
		return nil, err
	}
	return job, nil
}

// JudgeCapabilities are the capabilities the judge container keeps (all
// others dropped): what the judge's per-run sandbox needs inside gVisor.
// docs/operator.md gives the reason for each.
var JudgeCapabilities = []corev1.Capability{"SYS_ADMIN", "SETUID", "SETGID", "CHOWN", "DAC_OVERRIDE", "FOWNER", "SYS_PTRACE"}

// allowPrivilegeEscalation false sets no_new_privs on the judge: it keeps
// the capabilities above but nothing can gain more through setuid or file
// capabilities. (Kubernetes refuses false with "CAP_SYS_ADMIN" spelled with
// its prefix, so the capabilities are spelled without it.)
var allowPrivilegeEscalation = ptr.To(false)

// Observe reads the Job and its pods.
func (e *JobExecutor) Observe(ctx context.Context, sub *v1alpha1.Submission) (Observation, error) {
	job := &batchv1.Job{}
	err := e.client.Get(ctx, types.NamespacedName{Namespace: sub.Namespace, Name: JobName(sub.Name)}, job)
	if apierrors.IsNotFound(err) {
		return Observation{State: StateAbsent}, nil
	}
	if err != nil {
		return Observation{}, fmt.Errorf("get judge job: %w", err)
	}
	ref := &v1alpha1.JobReference{Name: job.Name, UID: job.UID}
	if owner := metav1.GetControllerOf(job); owner == nil || owner.UID != sub.UID {
		// A Job of an earlier Submission of the same name, not yet
		// collected.
		return Observation{State: StatePending, Message: "Waiting for an earlier Job of this name to be deleted",
			PollAfter: e.cfg.PollInterval}, nil
	}
	if !job.DeletionTimestamp.IsZero() {
		return Observation{State: StatePending, Job: ref, PollAfter: e.cfg.PollInterval}, nil
	}
	pods, err := e.pods(ctx, job)
	if err != nil {
		return Observation{}, err
	}
	if c := jobFinished(job); c != nil {
		o := outcomeOf(c, pods)
		if o == nil {
			// The pod's final status is not in the cache yet.
			return Observation{State: StatePending, Job: ref, PollAfter: time.Second}, nil
		}
		if o.Reason == "" && !o.Failed && e.cfg.ReportBucket != "" {
			// The judge reached a result: it uploaded the full report.
			o.Report = e.cfg.ReportBucket + "/" + reportKey(sub)
		}
		return Observation{State: StateDone, Job: ref, Outcome: o}, nil
	}
	obs := Observation{State: StatePending, Job: ref, PollAfter: e.cfg.PollInterval}
	var running *corev1.Pod
	for i := range pods {
		p := &pods[i]
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp.IsZero() {
			running = p
		}
		if p.Status.Phase == corev1.PodPending {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Message != "" {
					obs.Message = c.Reason + ": " + c.Message
				}
			}
		}
	}
	if running == nil {
		return obs, nil
	}
	obs.State = StateCompiling
	if e.logs == nil {
		return obs, nil
	}
	tail, err := e.logs.TailLog(ctx, running.Namespace, running.Name, JudgeContainer, 20)
	if err != nil {
		// Progress is best effort; the verdict does not depend on it.
		return obs, nil
	}
	if p, ok := jobrun.LastProgress(tail); ok && (p.Phase == "running" || p.Phase == "done") {
		obs.State, obs.Test, obs.Total, obs.Passed = StateRunning, p.Test, p.Total, p.Passed
	}
	return obs, nil
}

// pods lists the Job's pods, newest first.
func (e *JobExecutor) pods(ctx context.Context, job *batchv1.Job) ([]corev1.Pod, error) {
	var list corev1.PodList
	if err := e.client.List(ctx, &list, client.InNamespace(job.Namespace),
		client.MatchingLabels{batchv1.ControllerUidLabel: string(job.UID)}); err != nil {
		return nil, fmt.Errorf("list judge pods: %w", err)
	}
	sort.Slice(list.Items, func(i, j int) bool {
		return list.Items[j].CreationTimestamp.Before(&list.Items[i].CreationTimestamp)
	})
	return list.Items, nil
}

// jobFinished returns the Job's Complete or Failed condition, if true.
func jobFinished(job *batchv1.Job) *batchv1.JobCondition {
	for i, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return &job.Status.Conditions[i]
		}
	}
	return nil
}

// outcomeOf turns a finished Job into an outcome: the judge's termination
// message if there is one; a killed sandbox (OOMKilled) is the program's
// MEMORY_LIMIT_EXCEEDED; everything else is a failed judging. nil means
// the deciding pod is not visible yet.
func outcomeOf(c *batchv1.JobCondition, pods []corev1.Pod) *Outcome {
	var pod *corev1.Pod
	for i := range pods {
		p := &pods[i]
		if c.Type == batchv1.JobComplete && p.Status.Phase == corev1.PodSucceeded {
			pod = p
			break
		}
		if c.Type == batchv1.JobFailed && p.Status.Phase == corev1.PodFailed && !disrupted(p) {
			pod = p
			break
		}
	}
	failed := func(reason, msg string) *Outcome {
		return &Outcome{Failed: true, Reason: reason, Result: judge.Compact{Verdict: judge.InternalError, Message: msg}}
	}
	if c.Type == batchv1.JobFailed && c.Reason == batchv1.JobReasonDeadlineExceeded {
		return failed("DeadlineExceeded", "The judge did not finish within the Job's deadline")
	}
	if pod == nil {
		if c.Type == batchv1.JobFailed {
			return failed(c.Reason, "The judge Job failed: "+c.Message)
		}
		return nil
	}
	term := judgeTerminated(pod)
	if term == nil {
		return failed("NoResult", "The judge pod ended without a container status")
	}
	if term.Message != "" {
		if r, err := jobrun.ParseCompact(term.Message); err == nil {
			o := &Outcome{Result: *r}
			if r.Verdict == judge.InternalError {
				o.Failed = true
			}
			return o
		}
	}
	if term.Reason == "OOMKilled" {
		return &Outcome{Reason: "OOMKilled", Result: judge.Compact{Verdict: judge.MemoryLimitExceeded,
			Message: "The program exhausted the judge pod's memory"}}
	}
	return failed("NoResult", fmt.Sprintf("The judge exited with code %d and no result (%s)", term.ExitCode, term.Reason))
}

func disrupted(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func judgeTerminated(p *corev1.Pod) *corev1.ContainerStateTerminated {
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == JudgeContainer && s.State.Terminated != nil {
			return s.State.Terminated
		}
	}
	return nil
}

// Release deletes the Job (freeing its quota at once rather than after its
// TTL) and the Secret. Gone objects are not an error.
func (e *JobExecutor) Release(ctx context.Context, key types.NamespacedName) error {
	name := JobName(key.Name)
	job := &batchv1.Job{}
	if err := e.client.Get(ctx, types.NamespacedName{Namespace: key.Namespace, Name: name}, job); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !job.DeletionTimestamp.IsZero() {
		return nil
	}
	if err := e.client.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground),
		client.Preconditions{UID: &job.UID}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete judge job: %w", err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: key.Namespace}}
	if err := e.client.Delete(ctx, secret); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete judge secret: %w", err)
	}
	return nil
}
