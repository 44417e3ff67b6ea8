package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/codequest-dev/codequest/api/v1alpha1"
	"github.com/codequest-dev/codequest/test/localsvc"
)

// Cluster is one test's share of a real Kubernetes API server (etcd and
// kube-apiserver, as envtest runs them) with CodeQuest's CRDs installed.
type Cluster struct {
	Config *rest.Config
	Client client.Client
	Scheme *runtime.Scheme
	// Namespace is created for the test and deleted after it.
	Namespace string
}

type kubeServer struct {
	env    *envtest.Environment
	config *rest.Config
}

func (k *kubeServer) stop(context.Context) error { return k.env.Stop() }

// Scheme returns a scheme with the built-in kinds and CodeQuest's.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = v1alpha1.AddToScheme(s)
	return s
}

// Kube gives t its own namespace on the binary's Kubernetes API server,
// starting it on first use. The binaries come from $KUBEBUILDER_ASSETS, or
// hack/kube.sh assets (etcd from Debian, kube-apiserver built from the Go
// module proxy into the tool cache).
func Kube(t testing.TB) *Cluster {
	t.Helper()
	k, err := services.kube.get("kube-apiserver", startKube)
	if err != nil {
		t.Fatal(err)
	}
	s := Scheme()
	c, err := client.New(k.config, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: namespacePrefix(t.Name())}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), ns) })
	return &Cluster{Config: rest.CopyConfig(k.config), Client: c, Scheme: s, Namespace: ns.Name}
}

func startKube(ctx context.Context) (*kubeServer, error) {
	root, err := localsvc.FindRoot(".")
	if err != nil {
		return nil, err
	}
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		out, err := exec.CommandContext(ctx, filepath.Join(root, "hack", "kube.sh"), "assets").Output()
		if err != nil {
			return nil, fmt.Errorf("hack/kube.sh assets (etcd from Debian's etcd-server, kube-apiserver built from the Go module proxy; run hack/deps.sh): %w", err)
		}
		assets = strings.TrimSpace(string(out))
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start envtest: %w", err)
	}
	return &kubeServer{env: env, config: cfg}, nil
}

// namespacePrefix is a DNS label prefix made from a test name.
func namespacePrefix(test string) string {
	var b strings.Builder
	b.WriteString("t-")
	for _, r := range strings.ToLower(test) {
		if b.Len() >= 30 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else if !strings.HasSuffix(b.String(), "-") {
			b.WriteByte('-')
		}
	}
	return strings.TrimRight(b.String(), "-") + "-"
}
