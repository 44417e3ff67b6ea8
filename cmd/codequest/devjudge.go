package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/codequest-dev/codequest/api/v1alpha1"
	"github.com/codequest-dev/codequest/apiserver/objects"
	"github.com/codequest-dev/codequest/controllers"
	"github.com/codequest-dev/codequest/judge"
	"github.com/codequest-dev/codequest/sandbox"
)

// devJudging is the Kubernetes side of `codequest dev`: a local control
// plane (the etcd and kube-apiserver binaries envtest uses, from the tool
// cache) with the CRDs, and the controllers judging with the local
// executor on this machine.
type devJudging struct {
	config     *rest.Config
	kubeconfig string
	stops      []func() error
}

// startJudging starts the control plane (unless kubeconfig names a
// cluster), the judge namespace, and the controller manager.
func startJudging(ctx context.Context, log *slog.Logger, root, dataDir, kubeconfig, namespace string, obj objects.Config) (*devJudging, error) {
	d := &devJudging{kubeconfig: kubeconfig}
	if kubeconfig == "" {
		if root == "" {
			return nil, errors.New("the local control plane needs the repository (hack/kube.sh)")
		}
		out, err := exec.CommandContext(ctx, filepath.Join(root, "hack", "kube.sh"), "assets").Output()
		if err != nil {
			return nil, fmt.Errorf("hack/kube.sh assets (etcd from Debian, kube-apiserver from the tool cache): %w", err)
		}
		etcdDir := filepath.Join(dataDir, "kubernetes", "etcd")
		if err := os.MkdirAll(etcdDir, 0o700); err != nil {
			return nil, err
		}
		env := &envtest.Environment{
			BinaryAssetsDirectory: strings.TrimSpace(string(out)),
			CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
			ErrorIfCRDPathMissing: true,
		}
		env.ControlPlane.Etcd = &envtest.Etcd{DataDir: etcdDir}
		cfg, err := env.Start()
		if err != nil {
			return nil, fmt.Errorf("start the local control plane: %w", err)
		}
		d.stops = append(d.stops, env.Stop)
		admin, err := env.AddUser(envtest.User{Name: "codequest-dev", Groups: []string{"system:masters"}}, nil)
		if err != nil {
			d.stop()
			return nil, err
		}
		kc, err := admin.KubeConfig()
		if err != nil {
			d.stop()
			return nil, err
		}
		d.kubeconfig = filepath.Join(dataDir, "kubeconfig")
		if err := os.WriteFile(d.kubeconfig, kc, 0o600); err != nil {
			d.stop()
			return nil, err
		}
		d.config = cfg
	} else {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig: %w", err)
		}
		d.config = cfg
	}
	scheme := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(d.config, client.Options{Scheme: scheme})
	if err != nil {
		d.stop()
		return nil, err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace, Labels: map[string]string{v1alpha1.JudgeNamespaceLabel: "true"}}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		d.stop()
		return nil, fmt.Errorf("judge namespace: %w", err)
	}

	ctrl.SetLogger(logr.FromSlogHandler(log.With("component", "controller").Handler()))
	mgr, err := ctrl.NewManager(d.config, controllers.ManagerOptions(scheme, controllers.ManagerConfig{
		Namespaces: []string{namespace}, MetricsAddr: "0", ProbeAddr: "0",
	}))
	if err != nil {
		d.stop()
		return nil, fmt.Errorf("controller manager: %w", err)
	}
	sb, err := sandbox.New(ctx, sandbox.Config{InitPath: findSandboxInit(log)})
	if err != nil {
		d.stop()
		return nil, fmt.Errorf("sandbox (run as root; see docs/judge.md): %w", err)
	}
	d.stops = append(d.stops, sb.Close)
	j, err := judge.New(judge.Config{Sandbox: sb, Languages: judge.Languages(judge.DefaultToolchains()),
		CacheDir: filepath.Join(cacheRoot(), "judge"), Parallel: judge.DefaultParallel()})
	if err != nil {
		d.stop()
		return nil, err
	}
	if err := controllers.SetupLocal(ctx, mgr, controllers.LocalConfig{
		Judge: j,
		Objects: controllers.ObjectStoreConfig{Endpoint: obj.Endpoint, AccessKey: obj.AccessKey, SecretKey: obj.SecretKey,
			Region: obj.Region, UseTLS: obj.UseTLS},
		PackageDir: filepath.Join(dataDir, "packages"), Workers: 2, Queue: 1000, PerUser: 2,
		SubmissionConcurrency: 8, ProblemConcurrency: 2,
	}); err != nil {
		d.stop()
		return nil, err
	}
	mctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	// The manager stops first, then the sandbox and the control plane.
	d.stops = append([]func() error{func() error { cancel(); return <-done }}, d.stops...)
	return d, nil
}

// stop stops what startJudging started: the manager first, then the
// control plane and the sandbox.
func (d *devJudging) stop() error {
	var errs []error
	for i := range d.stops {
		if err := d.stops[i](); err != nil {
			errs = append(errs, err)
		}
	}
	d.stops = nil
	return errors.Join(errs...)
}
