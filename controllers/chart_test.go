package controllers

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/codequest-dev/codequest/api/v1alpha1"
	"github.com/codequest-dev/codequest/apiserver/kube"
	"github.com/codequest-dev/codequest/apiserver/store"
	"github.com/codequest-dev/codequest/apiserver/submissions"
	"github.com/codequest-dev/codequest/test/harness"
)

// The Helm chart (charts/codequest): lint, schema, rendering for every
// values file, a server-side dry run against a real kube-apiserver, the
// security of the platform pods, RBAC (the controller's equal to
// config/rbac, the API server's sufficient for apiserver/kube) and the
// commands' real flags. `go test ./controllers/ -run TestChart` runs only
// these (~10 s warm).

var chartDir = filepath.Join("..", "charts", "codequest")

// chartHelm runs hack/helm.sh's Helm; it returns stdout, and stderr in the
// error.
func chartHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	path, err := exec.Command(filepath.Join("..", "hack", "helm.sh")).Output()
	if err != nil {
		t.Fatalf("hack/helm.sh (builds Helm from the Go module proxy into the tool cache): %v", err)
	}
	cmd := exec.Command(strings.TrimSpace(string(path)), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), errors.New(stdout.String() + stderr.String())
	}
	return stdout.String(), nil
}

// chartRender renders the chart into release namespace ns with the judge
// namespace judgeNS, CRDs and hooks included.
func chartRender(t *testing.T, ns, judgeNS string, args ...string) string {
	t.Helper()
	out, err := chartHelm(t, append([]string{"template", "codequest", chartDir, "--namespace", ns,
		"--include-crds", "--set", "judge.namespace=" + judgeNS}, args...)...)
	if err != nil {
		t.Fatalf("helm template %v: %v", args, err)
	}
	return out
}

// chartObjects are rendered objects.
type chartObjects []*unstructured.Unstructured

func chartDecode(t *testing.T, manifest string) chartObjects {
	t.Helper()
	d := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var objs chartObjects
	for {
		u := &unstructured.Unstructured{}
		err := d.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("decode rendered chart: %v", err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// get converts the object of kind and name (and namespace, when given)
// into out; ok is false when there is none.
func (c chartObjects) get(t *testing.T, kind, ns, name string, out any) bool {
	t.Helper()
	for _, u := range c {
		if u.GetKind() == kind && u.GetName() == name && (ns == "" || u.GetNamespace() == ns) {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
				t.Fatalf("%s %s: %v", kind, name, err)
			}
			return true
		}
	}
	return false
}

func (c chartObjects) must(t *testing.T, kind, ns, name string, out any) {
	t.Helper()
	if !c.get(t, kind, ns, name, out) {
		t.Fatalf("the chart renders no %s %s/%s", kind, ns, name)
	}
}

// chartKubectl runs hack/kube.sh's kubectl against cfg.
func chartKubectl(t *testing.T, cfg *rest.Config, stdin string, args ...string) (string, error) {
	t.Helper()
	path := os.Getenv("KUBECTL")
	if path == "" {
		out, err := exec.Command(filepath.Join("..", "hack", "kube.sh"), "path", "kubectl").Output()
		if err != nil {
			t.Fatalf("hack/kube.sh path kubectl: %v", err)
		}
		path = strings.TrimSpace(string(out))
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["test"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test"}
	kc.CurrentContext = "test"
	kcPath := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, kcPath); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, append([]string{"--kubeconfig", kcPath}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// chartNamespace creates a namespace for the test (deleted after it).
func chartNamespace(t *testing.T, c client.Client, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), ns) })
}

// chartValueFiles are the ci/ values files helm lint and the dry run use.
func chartValueFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil || len(files) < 2 {
		t.Fatalf("ci values files: %v %v", files, err)
	}
	return files
}

func TestChartLint(t *testing.T) {
	t.Parallel()
	for _, f := range append([]string{""}, chartValueFiles(t)...) {
		args := []string{"lint", "--strict", chartDir}
		if f != "" {
			args = append(args, "--values", f)
		}
		out, err := chartHelm(t, args...)
		if err != nil {
			t.Errorf("helm lint --strict %s: %v", f, err)
		}
		if !strings.Contains(out, "0 chart(s) failed") {
			t.Errorf("helm lint --strict %s:\n%s", f, out)
		}
	}
}

func TestChartSchemaRejectsBadValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		set  []string
		want []string
	}{
		{"negative replicas", []string{"apiserver.replicas=-1"}, []string{"at '/apiserver/replicas': minimum: got -1, want 0"}},
		{"bad pull policy", []string{"image.pullPolicy=Sometimes"}, []string{"at '/image/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'"}},
		{"no Postgres URL", []string{"database.existingSecret="}, []string{"at '/database': 'anyOf' failed", "at '/database/url': minLength", "at '/database/existingSecret': minLength"}},
		{"no signing key", []string{"jwt.existingSecret="}, []string{"at '/jwt': 'anyOf' failed", "/jwt/signingKey"}},
		{"misspelt value", []string{"apiserver.replica=2"}, []string{"at '/apiserver': additional properties 'replica' not allowed"}},
		{"port out of range", []string{"apiserver.port=70000"}, []string{"at '/apiserver/port': maximum: got 70,000, want 65,535"}},
		{"bad quantity", []string{"judge.cpu=lots"}, []string{"at '/judge/cpu': 'lots' does not match pattern"}},
		{"cidr egress without cidrs", []string{"networkPolicy.objectStorage.to=cidr"}, []string{"at '/networkPolicy/objectStorage/cidrs'"}},
		{"unknown runtime handler name", []string{"runtimeClass.handler=Run_C"}, []string{"at '/runtimeClass/handler'"}},
		{"controller ports clash", []string{"controller.healthPort=8080"}, []string{"controller.metricsPort and controller.healthPort are both 8080"}},
		{"host ports clash", []string{"apiserver.hostNetwork=true", "controller.hostNetwork=true"}, []string{"apiserver.port 8080 is also a controller port"}},
		{"judge namespace is the release's", []string{"judge.namespace=codequest-system"}, []string{`judge.namespace "codequest-system" is the release namespace`}},
	} {
		args := []string{"template", "codequest", chartDir, "--namespace", "codequest-system"}
		for _, s := range tc.set {
			args = append(args, "--set", s)
		}
		_, err := chartHelm(t, args...)
		if err == nil {
			t.Errorf("%s: helm template %v succeeded", tc.name, tc.set)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error lacks %q:\n%v", tc.name, w, err)
			}
		}
	}
}

// chartSigningKey writes a new Ed25519 key (PKCS #8 PEM) and returns its
// path and the PEM of its public key.
func chartSigningKey(t *testing.T) (string, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "signing-key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
}

// chartCases are the renderings every test below checks: the defaults
// (credentials from codequest-credentials), each ci/ file, other existing
// Secrets, and every credential given as a value.
func chartCases(t *testing.T) []chartCase {
	t.Helper()
	keyPath, retired := chartSigningKey(t)
	retiredPath := filepath.Join(t.TempDir(), "retired.pem")
	if err := os.WriteFile(retiredPath, []byte(retired), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]string{
		"defaults": nil,
		"existing secrets": {
			"--set", "database.existingSecret=pg,database.existingSecretKey=dsn",
			"--set", "redis.existingSecret=redis,redis.existingSecretKey=url",
			"--set", "objectStorage.existingSecret=s3,objectStorage.existingSecretKeys.accessKey=user,objectStorage.existingSecretKeys.secretKey=password",
			"--set", "smtp.host=smtp.example.com,smtp.username=codequest,smtp.existingSecret=smtp,smtp.existingSecretKey=password",
			"--set", "jwt.existingSecret=jwt,jwt.existingSecretKey=key.pem",
		},
		"values": {
			"--set", "database.url=postgres://codequest:pw@db.example:5432/codequest?sslmode=require",
			"--set", "redis.url=rediss://:pw@redis.example:6380/0",
			"--set", "objectStorage.endpoint=s3.example.com:443,objectStorage.tls=true,objectStorage.accessKey=AK,objectStorage.secretKey=SK,objectStorage.reportBucket=reports",
			"--set", "smtp.host=smtp.example.com,smtp.username=codequest,smtp.password=pw",
			"--set-file", "jwt.signingKey=" + keyPath,
			"--set-file", "jwt.retiredPublicKeys[0]=" + retiredPath,
			"--set", "apiserver.ingress.enabled=true,apiserver.ingress.className=nginx",
			"--set", "apiserver.ingress.tls[0].secretName=codequest-tls,apiserver.ingress.tls[0].hosts[0]=codequest.example.com",
			"--set", "apiserver.service.type=LoadBalancer,apiserver.service.appProtocol=kubernetes.io/h2c",
			"--set", "apiserver.corsOrigins[0]=https://codequest.example.com,apiserver.publicURL=https://codequest.example.com",
			"--set", "judge.languageImages.java=ghcr.io/codequest-dev/judge-java:0.1.0",
			"--set", "networkPolicy.objectStorage.to=cidr,networkPolicy.objectStorage.cidrs[0]=203.0.113.10/32,networkPolicy.objectStorage.port=443",
			"--set", "runtimeClass.create=false",
		},
	}
	for _, f := range chartValueFiles(t) {
		cases[filepath.Base(f)] = []string{"--values", f}
	}
	var out []chartCase
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		out = append(out, chartCase{name, cases[name]})
	}
	return out
}

// chartCase is one rendering: its name and helm template's arguments.
type chartCase struct {
	name string
	args []string
}

func TestChartDryRun(t *testing.T) {
	t.Parallel()
	cluster := harness.Kube(t)
	for i, tc := range chartCases(t) {
		name, args := tc.name, tc.args
		judgeNS := cluster.Namespace + "-j" + strconv.Itoa(i)
		// The judge namespace must exist for a dry run of what goes in it.
		chartNamespace(t, cluster.Client, judgeNS, nil)
		manifest := chartRender(t, cluster.Namespace, judgeNS, args...)
		out, err := chartKubectl(t, cluster.Config, manifest, "apply", "--dry-run=server", "-f", "-")
		if err != nil {
			t.Errorf("%s: kubectl apply --dry-run=server: %v\n%s", name, err, out)
			continue
		}
		want := []string{
			"customresourcedefinition.apiextensions.k8s.io/submissions.codequest.dev",
			"namespace/" + judgeNS, "resourcequota/judge", "limitrange/judge",
			"networkpolicy.networking.k8s.io/judge-deny-all",
			"validatingadmissionpolicy.admissionregistration.k8s.io/codequest-judge-pods",
			"validatingadmissionpolicybinding.admissionregistration.k8s.io/codequest-judge-pods",
			"clusterrole.rbac.authorization.k8s.io/codequest-controller", "role.rbac.authorization.k8s.io/codequest-controller",
			"role.rbac.authorization.k8s.io/codequest-apiserver", "rolebinding.rbac.authorization.k8s.io/codequest-apiserver",
			"serviceaccount/codequest-apiserver", "serviceaccount/codequest-controller",
			"deployment.apps/codequest-apiserver", "deployment.apps/codequest-controller",
			"service/codequest-apiserver", "job.batch/codequest-migrations",
		}
		switch name {
		case "values":
			want = append(want, "secret/codequest created", "secret/codequest-migrations",
				"ingress.networking.k8s.io/codequest-apiserver", "configmap/codequest-jwt-verify-keys")
		case "defaults", "existing secrets":
			want = append(want, "runtimeclass.node.k8s.io/gvisor", "poddisruptionbudget.policy/codequest-apiserver",
				"poddisruptionbudget.policy/codequest-controller", "service/codequest-controller-metrics")
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: the dry run lacks %s:\n%s", name, w, out)
			}
		}
		if name == "defaults" || name == "existing secrets" {
			if strings.Contains(out, "secret/codequest ") {
				t.Errorf("%s: a Secret of the chart's own without credentials as values:\n%s", name, out)
			}
		}
	}
}

// chartPods are the pod templates of the platform: the API server, the
// controller and the migration Job.
func chartPods(t *testing.T, objs chartObjects, ns string) map[string]corev1.PodTemplateSpec {
	t.Helper()
	var api, ctl appsv1.Deployment
	var mig batchv1.Job
	objs.must(t, "Deployment", ns, "codequest-apiserver", &api)
	objs.must(t, "Deployment", ns, "codequest-controller", &ctl)
	objs.must(t, "Job", ns, "codequest-migrations", &mig)
	return map[string]corev1.PodTemplateSpec{"apiserver": api.Spec.Template, "controller": ctl.Spec.Template, "migrations": mig.Spec.Template}
}

func TestChartPodSecurity(t *testing.T) {
	t.Parallel()
	cluster := harness.Kube(t)
	ctx := context.Background()
	ns := &corev1.Namespace{}
	if err := cluster.Client.Get(ctx, client.ObjectKey{Name: cluster.Namespace}, ns); err != nil {
		t.Fatal(err)
	}
	ns.Labels["pod-security.kubernetes.io/enforce"] = "restricted"
	ns.Labels["pod-security.kubernetes.io/enforce-version"] = "latest"
	if err := cluster.Client.Update(ctx, ns); err != nil {
		t.Fatal(err)
	}
	for _, sa := range []string{"codequest-apiserver", "codequest-controller"} {
		if err := cluster.Client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: cluster.Namespace}}); err != nil {
			t.Fatal(err)
		}
	}
	// migrations uses the namespace's default ServiceAccount (no
	// kube-controller-manager here to make it).
	if err := cluster.Client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: cluster.Namespace}}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range chartCases(t) {
		name, args := tc.name, tc.args
		if name == "local-cluster-values.yaml" {
			continue // host networking: see TestChartLocalCluster
		}
		objs := chartDecode(t, chartRender(t, cluster.Namespace, "codequest-judge", args...))
		for component, tmpl := range chartPods(t, objs, cluster.Namespace) {
			spec := tmpl.Spec
			psc := spec.SecurityContext
			if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 ||
				psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("%s %s: pod securityContext = %+v", name, component, psc)
			}
			if spec.HostNetwork || spec.HostPID || spec.HostIPC {
				t.Errorf("%s %s: shares a host namespace", name, component)
			}
			for _, c := range append(spec.InitContainers, spec.Containers...) {
				sc := c.SecurityContext
				if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
					sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
					sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
					t.Errorf("%s %s: container %s securityContext = %+v", name, component, c.Name, sc)
				}
				if c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
					t.Errorf("%s %s: container %s without resources", name, component, c.Name)
				}
			}
			// The real admission: pod security "restricted" admits the pod.
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: component + "-", Namespace: cluster.Namespace, Labels: tmpl.Labels}, Spec: spec}
			if err := cluster.Client.Create(ctx, pod, client.DryRunAll); err != nil {
				t.Errorf("%s %s: a pod is refused in a namespace enforcing restricted: %v", name, component, err)
			}
		}

		var api appsv1.Deployment
		objs.must(t, "Deployment", cluster.Namespace, "codequest-apiserver", &api)
		c := api.Spec.Template.Spec.Containers[0]
		if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
			t.Errorf("%s: apiserver probes = %+v, %+v", name, c.LivenessProbe, c.ReadinessProbe)
		}
		// Grace covers the preStop sleep and the server's drain.
		if g := api.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || c.Lifecycle == nil || c.Lifecycle.PreStop.Sleep == nil ||
			*g < c.Lifecycle.PreStop.Sleep.Seconds+30 || !slices.Contains(c.Args, "--shutdown-timeout=30s") {
			t.Errorf("%s: apiserver grace %v, preStop %+v, args %v", name, g, c.Lifecycle, c.Args)
		}
	}
}

func TestChartLocalCluster(t *testing.T) {
	t.Parallel()
	objs := chartDecode(t, chartRender(t, "codequest-system", "codequest-judge", "--values", filepath.Join(chartDir, "ci", "local-cluster-values.yaml")))
	ports := map[string][]int32{"apiserver": {18080}, "controller": {18081, 18082}}
	for component, tmpl := range chartPods(t, objs, "codequest-system") {
		spec := tmpl.Spec
		if !spec.HostNetwork || spec.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
			t.Errorf("%s: hostNetwork %v, dnsPolicy %q", component, spec.HostNetwork, spec.DNSPolicy)
		}
		c := spec.Containers[0]
		if c.ImagePullPolicy != corev1.PullNever {
			t.Errorf("%s: imagePullPolicy %q", component, c.ImagePullPolicy)
		}
		var got []int32
		for _, p := range c.Ports {
			got = append(got, p.ContainerPort)
		}
		if diff := cmp.Diff(got, ports[component]); diff != "" {
			t.Errorf("%s: ports (-got +want):\n%s", component, diff)
		}
		if component == "migrations" {
			continue
		}
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
		if env["KUBERNETES_SERVICE_HOST"] != "127.0.0.1" || env["KUBERNETES_SERVICE_PORT"] != "27443" {
			t.Errorf("%s: KUBERNETES_SERVICE_HOST/PORT = %q/%q", component, env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"])
		}
	}
	// A rollout frees the node's port before the new pod takes it.
	for _, name := range []string{"codequest-apiserver", "codequest-controller"} {
		var d appsv1.Deployment
		objs.must(t, "Deployment", "codequest-system", name, &d)
		if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxSurge.IntValue() != 0 {
			t.Errorf("%s: strategy %+v", name, d.Spec.Strategy)
		}
	}

	kind := chartDecode(t, chartRender(t, "codequest-system", "codequest-judge", "--values", filepath.Join(chartDir, "ci", "kind-values.yaml")))
	var rc nodev1.RuntimeClass
	kind.must(t, "RuntimeClass", "", "gvisor", &rc)
	if rc.Handler != "runc" {
		t.Errorf("kind: RuntimeClass gvisor handler %q", rc.Handler)
	}
	for component, tmpl := range chartPods(t, kind, "codequest-system") {
		if p := tmpl.Spec.Containers[0].ImagePullPolicy; p != corev1.PullIfNotPresent {
			t.Errorf("kind %s: imagePullPolicy %q", component, p)
		}
	}
}

// chartRules are RBAC rules flattened to sorted group/resource/verb
// triples, so that equal permissions compare equal however they are
// grouped.
func chartRules(rules []rbacv1.PolicyRule) []string {
	var out []string
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					out = append(out, g+"/"+res+":"+v)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestChartControllerRBACMatchesConfig(t *testing.T) {
	t.Parallel()
	objs := chartDecode(t, chartRender(t, "codequest-system", "codequest-judge"))
	var config chartObjects
	for _, f := range []string{"role.yaml", "role_binding.yaml", "leader_election_role.yaml", "leader_election_role_binding.yaml",
		"service_account.yaml", "submission_editor_role.yaml", "submission_viewer_role.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "config", "rbac", f))
		if err != nil {
			t.Fatal(err)
		}
		config = append(config, chartDecode(t, string(b))...)
	}
	for _, o := range []struct{ kind, ns, name string }{
		{"ClusterRole", "", "codequest-controller"},
		{"Role", "codequest-judge", "codequest-controller"},
		{"Role", "codequest-system", "codequest-leader-election"},
		{"ClusterRole", "", "codequest-editor"},
		{"ClusterRole", "", "codequest-viewer"},
	} {
		var chart, want rbacv1.ClusterRole // a Role has the same rules
		objs.must(t, o.kind, o.ns, o.name, &chart)
		config.must(t, o.kind, o.ns, o.name, &want)
		if diff := cmp.Diff(chartRules(chart.Rules), chartRules(want.Rules)); diff != "" {
			t.Errorf("%s %s: chart rules differ from config/rbac (-chart +config):\n%s", o.kind, o.name, diff)
		}
		if diff := cmp.Diff(chart.AggregationRule, want.AggregationRule); diff != "" {
			t.Errorf("%s %s: aggregation (-chart +config):\n%s", o.kind, o.name, diff)
		}
		for _, l := range []string{"rbac.authorization.k8s.io/aggregate-to-edit", "rbac.authorization.k8s.io/aggregate-to-view"} {
			if chart.Labels[l] != want.Labels[l] {
				t.Errorf("%s %s: label %s = %q, config/rbac %q", o.kind, o.name, l, chart.Labels[l], want.Labels[l])
			}
		}
	}
	for _, o := range []struct{ kind, ns, name string }{
		{"ClusterRoleBinding", "", "codequest-controller"},
		{"RoleBinding", "codequest-judge", "codequest-controller"},
		{"RoleBinding", "codequest-system", "codequest-leader-election"},
	} {
		var chart, want rbacv1.RoleBinding
		objs.must(t, o.kind, o.ns, o.name, &chart)
		config.must(t, o.kind, o.ns, o.name, &want)
		if diff := cmp.Diff(chart.RoleRef, want.RoleRef); diff != "" {
			t.Errorf("%s %s: roleRef (-chart +config):\n%s", o.kind, o.name, diff)
		}
		if diff := cmp.Diff(chart.Subjects, want.Subjects); diff != "" {
			t.Errorf("%s %s: subjects (-chart +config):\n%s", o.kind, o.name, diff)
		}
	}
	var d appsv1.Deployment
	objs.must(t, "Deployment", "codequest-system", "codequest-controller", &d)
	if sa := d.Spec.Template.Spec.ServiceAccountName; sa != "codequest-controller" {
		t.Errorf("controller ServiceAccount %q", sa)
	}
}

// chartApplier records the updates the API server's watch delivers.
type chartApplier struct {
	mu      sync.Mutex
	updates []submissions.Update
}

func (a *chartApplier) Apply(_ context.Context, u submissions.Update) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.updates = append(a.updates, u)
	return true, nil
}

func (a *chartApplier) seen(id uuid.UUID) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.ContainsFunc(a.updates, func(u submissions.Update) bool { return u.ID == id })
}

type chartSink struct{}

func (chartSink) SetProblemVerification(context.Context, store.SetProblemVerificationParams) error {
	return nil
}

// The API server's Role is enough for everything apiserver/kube does, as
// the chart's ServiceAccount: publish a Problem (create, then update),
// dispatch a Submission, watch both.
func TestChartAPIServerRBAC(t *testing.T) {
	t.Parallel()
	cluster := harness.Kube(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	judgeNS := cluster.Namespace + "-judge"
	chartNamespace(t, cluster.Client, judgeNS, nil)
	objs := chartDecode(t, chartRender(t, cluster.Namespace, judgeNS))
	for _, o := range []struct{ kind, ns, name string }{
		{"ServiceAccount", cluster.Namespace, "codequest-apiserver"},
		{"Role", judgeNS, "codequest-apiserver"},
		{"RoleBinding", judgeNS, "codequest-apiserver"},
	} {
		u := &unstructured.Unstructured{}
		objs.must(t, o.kind, o.ns, o.name, &u.Object)
		if err := cluster.Client.Create(ctx, u); err != nil {
			t.Fatalf("create %s %s: %v", o.kind, o.name, err)
		}
	}

	as := rest.CopyConfig(cluster.Config)
	as.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + cluster.Namespace + ":codequest-apiserver",
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + cluster.Namespace, "system:authenticated"},
	}
	j, err := kube.New(as, judgeNS, "codequest", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	key, sum, size := "packages/sum.tar.gz", strings.Repeat("a", 64), int64(466)
	prob := store.Problem{
		ID: uuid.New(), Slug: "sum", Title: "Sum", TimeLimitMs: 1000, MemoryMib: 256, OutputMib: 8,
		PackageKey: &key, PackageSha256: &sum, PackageSize: &size, Validation: "default", Languages: []string{"python3"},
	}
	if err := j.PublishProblem(ctx, prob); err != nil {
		t.Fatalf("publish (create) as the API server: %v", err)
	}
	prob.Title = "Sum of two numbers"
	if err := j.PublishProblem(ctx, prob); err != nil {
		t.Fatalf("publish (update) as the API server: %v", err)
	}
	sub := store.Submission{ID: uuid.New(), UserID: uuid.New(), Mode: "submit", Language: "python3", Source: "print(1)"}
	if err := j.Dispatch(ctx, sub, prob); err != nil {
		t.Fatalf("dispatch as the API server: %v", err)
	}
	applier := &chartApplier{}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- j.Watch(wctx, applier, chartSink{}) }()
	for !applier.seen(sub.ID) {
		select {
		case err := <-done:
			t.Fatalf("watch as the API server ended: %v", err)
		case <-ctx.Done():
			t.Fatal("the watch never delivered the Submission")
		case <-time.After(50 * time.Millisecond):
		}
	}
	stop()
	<-done

	// And nothing beyond: no Secrets, no Jobs, no deleting.
	c, err := client.New(as, client.Options{Scheme: cluster.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.List(ctx, &corev1.SecretList{}, client.InNamespace(judgeNS)); err == nil {
		t.Error("the API server can list Secrets")
	}
	if err := c.List(ctx, &batchv1.JobList{}, client.InNamespace(judgeNS)); err == nil {
		t.Error("the API server can list Jobs")
	}
	if err := c.Delete(ctx, &v1alpha1.Submission{ObjectMeta: metav1.ObjectMeta{Name: sub.ID.String(), Namespace: judgeNS}}); err == nil {
		t.Error("the API server can delete Submissions")
	}
}

// chartCommandFlags reads cmd/codequest: for each command (the function
// serve, controller, migrate), the flags and environment variables it
// defines with env.str/integer/duration/boolean; and the CODEQUEST_*
// variables read directly (os.Getenv), valid for every command.
func chartCommandFlags(t *testing.T) (flags, envs map[string]map[string]bool, global map[string]bool) {
	t.Helper()
	fset := token.NewFileSet()
	paths, err := filepath.Glob(filepath.Join("..", "cmd", "codequest", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	flags, envs, global = map[string]map[string]bool{}, map[string]map[string]bool{}, map[string]bool{}
	str := func(e ast.Expr) string {
		if l, ok := e.(*ast.BasicLit); ok && l.Kind == token.STRING {
			s, _ := strconv.Unquote(l.Value)
			return s
		}
		return ""
	}
	for _, f := range files {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			cmd := fn.Name.Name
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				switch sel.Sel.Name {
				case "str", "integer", "duration", "boolean":
					if len(call.Args) >= 3 && str(call.Args[1]) != "" {
						if flags[cmd] == nil {
							flags[cmd], envs[cmd] = map[string]bool{}, map[string]bool{}
						}
						flags[cmd][str(call.Args[1])] = true
						envs[cmd][str(call.Args[2])] = true
					}
				case "Getenv", "LookupEnv":
					if len(call.Args) == 1 && strings.HasPrefix(str(call.Args[0]), "CODEQUEST_") {
						global[str(call.Args[0])] = true
					}
				}
				return true
			})
		}
	}
	for _, cmd := range []string{"serve", "controller", "migrate"} {
		if len(flags[cmd]) == 0 {
			t.Fatalf("no flags found for codequest %s in cmd/codequest", cmd)
		}
	}
	return flags, envs, global
}

// Every flag and CODEQUEST_* variable the chart gives a codequest
// container is one its command defines.
func TestChartUsesRealFlags(t *testing.T) {
	t.Parallel()
	flags, envs, global := chartCommandFlags(t)
	for _, tc := range chartCases(t) {
		name, args := tc.name, tc.args
		objs := chartDecode(t, chartRender(t, "codequest-system", "codequest-judge", args...))
		for component, tmpl := range chartPods(t, objs, "codequest-system") {
			for _, c := range tmpl.Spec.Containers {
				if len(c.Args) == 0 {
					t.Errorf("%s %s: no command", name, component)
					continue
				}
				cmd := map[string]string{"serve": "serve", "controller": "controller", "migrate": "migrate"}[c.Args[0]]
				if cmd == "" {
					t.Errorf("%s %s: unknown command %q", name, component, c.Args[0])
					continue
				}
				for _, a := range c.Args[1:] {
					if !strings.HasPrefix(a, "--") {
						continue // migrate's up
					}
					flag, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
					if !flags[cmd][flag] {
						t.Errorf("%s %s: codequest %s has no flag --%s", name, component, cmd, flag)
					}
				}
				for _, e := range c.Env {
					if strings.HasPrefix(e.Name, "CODEQUEST_") && !envs[cmd][e.Name] && !global[e.Name] {
						t.Errorf("%s %s: codequest %s reads no %s", name, component, cmd, e.Name)
					}
				}
			}
		}
	}
}

// The chart's admission policy, applied for real: in a judge namespace a
// pod must use the judge RuntimeClass, whatever that class's handler (runc
// here, as on kind); other namespaces are not affected.
func TestChartAdmissionPolicy(t *testing.T) {
	t.Parallel()
	cluster := harness.Kube(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A class name of this test's own: the other tests dry-run "gvisor".
	const class = "gvisor-chart-test"
	objs := chartDecode(t, chartRender(t, cluster.Namespace, cluster.Namespace+"-judge",
		"--values", filepath.Join(chartDir, "ci", "kind-values.yaml"), "--set", "judge.runtimeClassName="+class))
	for _, o := range []struct{ kind, name string }{
		{"RuntimeClass", class},
		{"ValidatingAdmissionPolicy", "codequest-judge-pods"},
		{"ValidatingAdmissionPolicyBinding", "codequest-judge-pods"},
	} {
		u := &unstructured.Unstructured{}
		objs.must(t, o.kind, "", o.name, &u.Object)
		if err := cluster.Client.Create(ctx, u); err != nil {
			t.Fatalf("create %s: %v", o.kind, err)
		}
		t.Cleanup(func() { _ = cluster.Client.Delete(context.Background(), u) })
	}
	var rc nodev1.RuntimeClass
	objs.must(t, "RuntimeClass", "", class, &rc)
	if rc.Handler != "runc" {
		t.Fatalf("handler %q", rc.Handler)
	}

	judgeNS := cluster.Namespace + "-judge"
	chartNamespace(t, cluster.Client, judgeNS, map[string]string{v1alpha1.JudgeNamespaceLabel: "true"})
	for _, ns := range []string{judgeNS, cluster.Namespace} {
		if err := cluster.Client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	pod := func(ns string, class *string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "judge-", Namespace: ns},
			Spec:       corev1.PodSpec{RuntimeClassName: class, Containers: []corev1.Container{{Name: "judge", Image: "judge:test"}}},
		}
	}
	// The policy takes effect once the API server has loaded it.
	for {
		err := cluster.Client.Create(ctx, pod(judgeNS, nil), client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), "must set runtimeClassName "+class) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("a pod without the RuntimeClass is still admitted: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	c := class
	if err := cluster.Client.Create(ctx, pod(judgeNS, &c), client.DryRunAll); err != nil {
		t.Errorf("a pod with RuntimeClass %s is refused: %v", class, err)
	}
	if err := cluster.Client.Create(ctx, pod(cluster.Namespace, nil), client.DryRunAll); err != nil {
		t.Errorf("a pod outside the judge namespace is refused: %v", err)
	}
}
