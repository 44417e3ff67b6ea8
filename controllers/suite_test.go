package controllers

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/codequest-dev/codequest/api/v1alpha1"
	"github.com/codequest-dev/codequest/sandbox"
	"github.com/codequest-dev/codequest/test/harness"
)

func TestMain(m *testing.M) {
	sandbox.Main()
	harness.Main(m) // stops the MinIO that TestObjectStoreOnMinIO starts

}

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controllers Suite")
}

var (
	testEnv   *envtest.Environment
	cfg       *rest.Config
	k8sClient client.Client
	scheme    = runtime.NewScheme()
	objects   = newMemObjects()
)

const judgeNS = "codequest-judge"

var _ = BeforeSuite(func() {
	SetDefaultEventuallyTimeout(20 * time.Second)
	SetDefaultEventuallyPollingInterval(50 * time.Millisecond)
	logf.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(GinkgoWriter, &slog.HandlerOptions{Level: slog.LevelInfo})))
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(v1alpha1.AddToScheme(scheme)).To(Succeed())

	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: kubebuilderAssets(),
	}
	var err error
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	ctx := context.Background()
	for _, ns := range []string{judgeNS, "codequest-local", "codequest-verify", "codequest-fair"} {
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		// No kube-controller-manager here: make the default ServiceAccount.
		Expect(k8sClient.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}})).To(Succeed())
	}
	Expect(k8sClient.Create(ctx, &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "gvisor"}, Handler: "runsc"})).To(Succeed())
})

var _ = AfterSuite(func() {
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// kubebuilderAssets is $KUBEBUILDER_ASSETS, else what hack/kube.sh builds
// (etcd + kube-apiserver from the Go module proxy, cached).
func kubebuilderAssets() string {
	d, err := assetsDir()
	Expect(err).NotTo(HaveOccurred(), "hack/kube.sh assets (etcd from Debian's etcd-server, kube-apiserver built from the Go module proxy): run hack/deps.sh")
	return d
}

func assetsDir() (string, error) {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d, nil
	}
	cmd := exec.Command(filepath.Join("..", "hack", "kube.sh"), "assets")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

// manager runs a controller manager in the background until stop.
type manager struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (m *manager) stop() {
	m.cancel()
	<-m.done
}

// startManager starts the reconcilers with exec on the namespace ns.
func startManager(ns string, exec func(ctrl.Manager) Executor, verifier Verifier) *manager {
	return startManagerWith(ns, exec, func(pr *ProblemReconciler) { pr.Verifier = verifier })
}

// startManagerWith starts a manager whose Problem reconciler set configures.
func startManagerWith(ns string, exec func(ctrl.Manager) Executor, set func(*ProblemReconciler), setSub ...func(*SubmissionReconciler)) *manager {
	mgr, err := ctrl.NewManager(cfg, ManagerOptions(scheme, ManagerConfig{
		Namespaces: []string{ns}, MetricsAddr: "0", ProbeAddr: "0", SkipNameValidation: true,
	}))
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	pkgs := NewPackageCache(objects, GinkgoT().TempDir())
	pr := &ProblemReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("problem-controller"), Packages: pkgs}
	set(pr)
	Expect(pr.SetupWithManager(mgr, 2)).To(Succeed())
	sr := &SubmissionReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("submission-controller"),
		Executor: exec(mgr), QuotaBackoff: Backoff{Min: 200 * time.Millisecond, Max: time.Second},
	}
	for _, f := range setSub {
		f(sr)
	}
	Expect(sr.SetupWithManager(ctx, mgr)).To(Succeed())
	m := &manager{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer GinkgoRecover()
		defer close(m.done)
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
	return m
}

// memObjects is object storage in memory.
type memObjects struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newMemObjects() *memObjects { return &memObjects{m: map[string][]byte{}} }

func (o *memObjects) put(bucket, key string, b []byte) v1alpha1.ObjectReference {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.m[bucket+"/"+key] = b
	h := sha256.Sum256(b)
	return v1alpha1.ObjectReference{Bucket: bucket, Key: key, SHA256: hex.EncodeToString(h[:]), Size: int64(len(b))}
}

func (o *memObjects) Get(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	b, ok := o.m[bucket+"/"+key]
	if !ok {
		return nil, fmt.Errorf("no object %s/%s", bucket, key)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (o *memObjects) PresignGet(ctx context.Context, bucket, key string, ttl time.Duration) (string, error) {
	return fmt.Sprintf("http://objects.test/%s/%s?X-Amz-Expires=%d", bucket, key, int(ttl.Seconds())), nil
}

func (o *memObjects) PresignPut(ctx context.Context, bucket, key string, ttl time.Duration) (string, error) {
	return fmt.Sprintf("http://objects.test/%s/%s?put&X-Amz-Expires=%d", bucket, key, int(ttl.Seconds())), nil
}

// tarGz packs a folder as a problem package.
func tarGz(dir string) []byte {
	b, err := packDir(dir)
	Expect(err).NotTo(HaveOccurred())
	return b
}

func packDir(dir string) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// readyProblem creates a Problem on the testdata/sum package and waits
// for Ready.
func readyProblem(ctx context.Context, ns, name string, verify *bool) *v1alpha1.Problem {
	ref := objects.put("problems", ns+"/"+name+".tar.gz", tarGz(filepath.Join("testdata", "sum")))
	p := &v1alpha1.Problem{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.ProblemSpec{
			Title:   "Sum",
			Limits:  v1alpha1.ProblemLimits{TimeMillis: 1000, Memory: resource.MustParse("256Mi")},
			Package: ref,
		},
	}
	if verify != nil {
		p.Spec.Verification = &v1alpha1.PackageVerification{Required: verify}
	}
	Expect(k8sClient.Create(ctx, p)).To(Succeed())
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(p.Status.Conditions, ConditionReady)).To(BeTrue(), "%v", p.Status.Conditions)
	}, 2*time.Minute, 100*time.Millisecond).Should(Succeed())
	return p
}

func newSubmission(ns, name, problem, src string) *v1alpha1.Submission {
	return &v1alpha1.Submission{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{v1alpha1.UserLabel: "alice"}},
		Spec: v1alpha1.SubmissionSpec{
			ProblemRef: v1alpha1.ProblemReference{Name: problem},
			Language:   "python3",
			Source:     v1alpha1.Source{Inline: ptr.To(src)},
		},
	}
}

func getSub(ctx context.Context, g Gomega, sub *v1alpha1.Submission) *v1alpha1.Submission {
	out := &v1alpha1.Submission{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sub), out)).To(Succeed())
	return out
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }

var _ = types.UID("")
