package controllers

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/codequest-dev/codequest/api/v1alpha1"
)

// kubectl runs the kubectl hack/kube.sh builds against envtest as an
// administrator.
func kubectl(stdin []byte, args ...string) (string, error) {
	path := os.Getenv("KUBECTL")
	if path == "" {
		out, err := exec.Command(filepath.Join("..", "hack", "kube.sh"), "path", "kubectl").Output()
		Expect(err).NotTo(HaveOccurred(), "hack/kube.sh path kubectl")
		path = strings.TrimSpace(string(out))
	}
	user, err := testEnv.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	kc, err := user.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	kcPath := filepath.Join(GinkgoT().TempDir(), "kubeconfig")
	Expect(os.WriteFile(kcPath, kc, 0o600)).To(Succeed())
	cmd := exec.Command(path, append([]string{"--kubeconfig", kcPath}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

// judgePod is the pod a judge Job makes.
func judgePod(ns string) *corev1.Pod {
	e := NewJobExecutor(k8sClient, scheme, objects, nil, JobConfig{DefaultImage: "judge:test"})
	sub := newSubmission(ns, "pod", "sum", "print(1)")
	sub.UID = "0f0f0f0f-0000-0000-0000-000000000000"
	prob := &v1alpha1.Problem{Spec: v1alpha1.ProblemSpec{Limits: v1alpha1.ProblemLimits{TimeMillis: 1000, Memory: resource.MustParse("256Mi")}}}
	job, err := e.Job(sub, prob)
	Expect(err).NotTo(HaveOccurred())
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "judge-", Namespace: ns, Labels: job.Spec.Template.Labels},
		Spec:       job.Spec.Template.Spec,
	}
}

func namespace(ctx context.Context, name string, labels map[string]string) {
	Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}})).To(Succeed())
	Expect(k8sClient.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: name}})).To(Succeed())
}

var _ = Describe("Cluster manifests", Ordered, func() {
	ctx := context.Background()

	It("renders config/default and passes a server-side dry run", func() {
		rendered, err := kubectl(nil, "kustomize", filepath.Join("..", "config", "default"))
		Expect(err).NotTo(HaveOccurred(), rendered)
		Expect(rendered).To(ContainSubstring("kind: ValidatingAdmissionPolicy"))
		// The namespaces must exist for a dry run of what goes in them.
		_ = k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "codequest-system"}})
		out, err := kubectl([]byte(rendered), "apply", "--dry-run=server", "-f", "-")
		Expect(err).NotTo(HaveOccurred(), out)
		for _, want := range []string{
			"customresourcedefinition.apiextensions.k8s.io/problems.codequest.dev",
			"runtimeclass.node.k8s.io/gvisor", "resourcequota/judge", "limitrange/judge",
			"networkpolicy.networking.k8s.io/judge-deny-all",
			"validatingadmissionpolicy.admissionregistration.k8s.io/codequest-judge-pods",
			"validatingadmissionpolicybinding.admissionregistration.k8s.io/codequest-judge-pods",
			"clusterrole.rbac.authorization.k8s.io/codequest-controller", "role.rbac.authorization.k8s.io/codequest-controller",
			"deployment.apps/codequest-controller",
		} {
			Expect(out).To(ContainSubstring(want))
		}
	})

	// The Helm chart: chart_test.go (TestChart*), on the test harness's
	// kube-apiserver.

	It("refuses a pod without the gVisor RuntimeClass in a judge namespace", func() {
		out, err := kubectl(nil, "apply", "-f", filepath.Join("..", "config", "judge", "admissionpolicy.yaml"))
		Expect(err).NotTo(HaveOccurred(), out)
		namespace(ctx, "vap", map[string]string{v1alpha1.JudgeNamespaceLabel: "true"})

		pod := judgePod("vap")
		pod.Spec.RuntimeClassName = nil
		Eventually(func() string {
			err := k8sClient.Create(ctx, pod.DeepCopy(), client.DryRunAll)
			if err == nil {
				return ""
			}
			return err.Error()
		}).Should(ContainSubstring("must set runtimeClassName gvisor"))

		By("runc by name is refused too; gvisor is admitted")
		Expect(k8sClient.Create(ctx, &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "runc"}, Handler: "runc"})).To(Succeed())
		pod.Spec.RuntimeClassName = ptr.To("runc")
		Expect(k8sClient.Create(ctx, pod.DeepCopy(), client.DryRunAll)).To(MatchError(ContainSubstring("gvisor")))
		Expect(k8sClient.Create(ctx, judgePod("vap"), client.DryRunAll)).To(Succeed())

		By("host paths are refused")
		hp := judgePod("vap")
		hp.Spec.Volumes = append(hp.Spec.Volumes, corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: "/"}}})
		Expect(k8sClient.Create(ctx, hp, client.DryRunAll)).To(MatchError(ContainSubstring("host paths")))

		By("namespaces without the label are not affected")
		plain := judgePod(judgeNS)
		plain.Spec.RuntimeClassName = nil
		Expect(k8sClient.Create(ctx, plain, client.DryRunAll)).To(Succeed())
	})

	It("needs pod security level privileged: baseline refuses the judge pod", func() {
		namespace(ctx, "pss-privileged", map[string]string{"pod-security.kubernetes.io/enforce": "privileged"})
		namespace(ctx, "pss-baseline", map[string]string{"pod-security.kubernetes.io/enforce": "baseline"})
		namespace(ctx, "pss-restricted", map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
		Expect(k8sClient.Create(ctx, judgePod("pss-privileged"), client.DryRunAll)).To(Succeed())
		err := k8sClient.Create(ctx, judgePod("pss-baseline"), client.DryRunAll)
		Expect(err).To(MatchError(ContainSubstring(`violates PodSecurity "baseline:latest": non-default capabilities`)))
		Expect(err).To(MatchError(ContainSubstring("SYS_ADMIN")))
		Expect(k8sClient.Create(ctx, judgePod("pss-restricted"), client.DryRunAll)).NotTo(Succeed())
	})

	It("validates Submissions: immutable spec, one source, input only for runs", func() {
		sub := newSubmission(judgeNS, "immutable", "nothing", "print(1)")
		Expect(k8sClient.Create(ctx, sub)).To(Succeed())
		sub.Spec.Language = "go"
		Expect(k8sClient.Update(ctx, sub)).To(MatchError(ContainSubstring("spec is immutable")))

		both := newSubmission(judgeNS, "both", "nothing", "print(1)")
		both.Spec.Source.Object = &v1alpha1.ObjectReference{Bucket: "src", Key: "k", SHA256: strings.Repeat("a", 64), Size: 1}
		Expect(k8sClient.Create(ctx, both)).To(MatchError(ContainSubstring("exactly one of inline and object")))

		input := newSubmission(judgeNS, "input", "nothing", "print(1)")
		input.Spec.Input = ptr.To("1 2")
		Expect(k8sClient.Create(ctx, input)).To(MatchError(ContainSubstring("input is only for mode run")))
		input.Spec.Mode = v1alpha1.ModeRun
		Expect(k8sClient.Create(ctx, input)).To(Succeed())

		big := newSubmission(judgeNS, "big", "nothing", strings.Repeat("x", v1alpha1.MaxInlineSource+1))
		Expect(k8sClient.Create(ctx, big)).To(MatchError(ContainSubstring("spec.source.inline")))
	})
})
