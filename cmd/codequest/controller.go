package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/codequest-dev/codequest/api/v1alpha1"
	"github.com/codequest-dev/codequest/controllers"
	"github.com/codequest-dev/codequest/judge"
	"github.com/codequest-dev/codequest/sandbox"
)

// controller runs the controller manager: the Problem and Submission
// reconcilers, judging through Jobs (--executor=job) or in this process
// (--executor=local, one machine without a kubelet).
func controller(ctx context.Context, args []string) error {
	fs := env{flag.NewFlagSet("controller", flag.ContinueOnError)}
	var (
		kubeconfig, executor, namespaces string
		leaderNS                         = "codequest-system"
		mc                               = controllers.ManagerConfig{MetricsAddr: ":8080", ProbeAddr: ":8081"}
		qps, burst                       = 50, 100
		subWorkers, probWorkers          = 16, 2
		jc                               controllers.JobConfig
		images, cpu, workSize            string
		objCfg                           controllers.ObjectStoreConfig
		localWorkers, localQueue         = runtime.NumCPU(), 1000
		perUser, maxJudgings             = 2, -1
		localParallel                    = judge.DefaultParallel()
		packageDir, sandboxInit          string
		verify, requireVerification      = "auto", true
		logFormat, logLevel              = "json", "info"
	)
	executor, namespaces, jc.RuntimeClassName, cpu, workSize = "job", "codequest-judge", "gvisor", "1", "2Gi"
	fs.str(&kubeconfig, "kubeconfig", "KUBECONFIG", "kubeconfig file (empty: in-cluster)")
	fs.str(&executor, "executor", "CODEQUEST_EXECUTOR", "where judging runs: job (Kubernetes Jobs) or local (this process)")
	fs.str(&namespaces, "judge-namespace", "CODEQUEST_JUDGE_NAMESPACE", "comma-separated namespaces whose Problems and Submissions are reconciled")
	fs.boolean(&mc.LeaderElection, "leader-elect", "CODEQUEST_LEADER_ELECT", "elect one active replica")
	fs.str(&leaderNS, "leader-election-namespace", "CODEQUEST_LEADER_ELECTION_NAMESPACE", "namespace of the leader Lease")
	fs.str(&mc.MetricsAddr, "metrics-bind-address", "CODEQUEST_METRICS_ADDR", "Prometheus metrics address (0: off)")
	fs.str(&mc.ProbeAddr, "health-probe-bind-address", "CODEQUEST_PROBE_ADDR", "/healthz and /readyz address (0: off)")
	fs.integer(&qps, "kube-api-qps", "CODEQUEST_KUBE_API_QPS", "Kubernetes client queries per second")
	fs.integer(&burst, "kube-api-burst", "CODEQUEST_KUBE_API_BURST", "Kubernetes client burst")
	fs.integer(&subWorkers, "submission-concurrency", "CODEQUEST_SUBMISSION_CONCURRENCY", "Submissions reconciled at once")
	fs.integer(&probWorkers, "problem-concurrency", "CODEQUEST_PROBLEM_CONCURRENCY", "Problems reconciled at once")
	fs.str(&jc.DefaultImage, "judge-image", "CODEQUEST_JUDGE_IMAGE", "judge image for every language without its own")
	fs.str(&images, "judge-images", "CODEQUEST_JUDGE_IMAGES", "per-language judge images: lang=image,...")
	fs.str(&jc.RuntimeClassName, "runtime-class", "CODEQUEST_RUNTIME_CLASS", "RuntimeClass of judge pods")
	fs.str(&cpu, "judge-cpu", "CODEQUEST_JUDGE_CPU", "CPU of a judge pod (request = limit)")
	fs.str(&workSize, "judge-work-size", "CODEQUEST_JUDGE_WORK_SIZE", "size limit of a judge pod's work folder")
	fs.duration(&jc.TTLAfterFinished, "job-ttl", "CODEQUEST_JOB_TTL", "ttlSecondsAfterFinished of judge Jobs (0: 1h)")
	fs.str(&jc.ReportBucket, "report-bucket", "CODEQUEST_REPORT_BUCKET", "bucket for full judge reports (empty: none)")
	fs.str(&objCfg.Endpoint, "s3-endpoint", "CODEQUEST_S3_ENDPOINT", "object storage host:port")
	fs.str(&objCfg.AccessKey, "s3-access-key", "CODEQUEST_S3_ACCESS_KEY", "object storage access key")
	fs.str(&objCfg.SecretKey, "s3-secret-key", "CODEQUEST_S3_SECRET_KEY", "object storage secret key")
	fs.str(&objCfg.Region, "s3-region", "CODEQUEST_S3_REGION", "object storage region")
	fs.boolean(&objCfg.UseTLS, "s3-tls", "CODEQUEST_S3_TLS", "use https for object storage")
	fs.integer(&localWorkers, "local-workers", "CODEQUEST_LOCAL_WORKERS", "judgings at once with --executor=local")
	fs.integer(&localParallel, "local-parallel", "CODEQUEST_LOCAL_PARALLEL", "tests of one judging run at once with --executor=local (default: the CPUs this process may use, plus one)")
	fs.integer(&perUser, "judgings-per-user", "CODEQUEST_JUDGINGS_PER_USER", "judgings of one user in flight at once (0: no cap); the others wait, and free places go round-robin between users")
	fs.integer(&maxJudgings, "max-judgings", "CODEQUEST_MAX_JUDGINGS", "judgings in flight at once, shared fairly between users (default: --local-workers with --executor=local; none with job: set it to what the judge namespace's quota admits)")
	fs.integer(&localQueue, "local-queue", "CODEQUEST_LOCAL_QUEUE", "judgings waiting at most with --executor=local")
	fs.str(&packageDir, "package-cache", "CODEQUEST_PACKAGE_CACHE", "folder of unpacked problem packages (default: user cache)")
	fs.str(&sandboxInit, "sandbox-init", "CODEQUEST_SANDBOX_INIT", "binary the local sandbox runs as every run's init (default: codequest-sandbox-init next to this binary, else judge next to it or on PATH)")
	fs.str(&verify, "verify-packages", "CODEQUEST_VERIFY_PACKAGES", "judge packages' labelled submissions here: true, false or auto (true with --executor=local)")
	fs.boolean(&requireVerification, "require-verification", "CODEQUEST_REQUIRE_VERIFICATION", "a Problem is Ready only when its labelled submissions agree")
	fs.str(&logFormat, "log-format", "CODEQUEST_LOG_FORMAT", "json or text")
	fs.str(&logLevel, "log-level", "CODEQUEST_LOG_LEVEL", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := newLogger(logFormat, logLevel)
	ctrl.SetLogger(logr.FromSlogHandler(log.Handler()))

	restCfg, err := kubeConfig(kubeconfig)
	if err != nil {
		return err
	}
	restCfg.QPS, restCfg.Burst = float32(qps), burst
	scheme := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	for _, ns := range strings.Split(namespaces, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			mc.Namespaces = append(mc.Namespaces, ns)
		}
	}
	mc.LeaderElectionNamespace = leaderNS
	// Every judge Job draws the same API warning (its pods would violate a
	// judge namespace's pod-security warn level): logged once, not per
	// Submission.
	restCfg.WarningHandlerWithContext = crlog.NewKubeAPIWarningLogger(crlog.KubeAPIWarningLoggerOptions{Deduplicate: true})
	mgr, err := ctrl.NewManager(restCfg, controllers.ManagerOptions(scheme, mc))
	if err != nil {
		return fmt.Errorf("controller manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}

	objects, err := controllers.NewObjectStore(objCfg)
	if err != nil {
		return err
	}
	if packageDir == "" {
		packageDir = filepath.Join(cacheRoot(), "packages")
	}
	packages := controllers.NewPackageCache(objects, packageDir)

	var local *judge.Judge
	if executor == "local" || verify == "true" {
		if sandboxInit == "" {
			sandboxInit = findSandboxInit(log)
		}
		sb, err := sandbox.New(ctx, sandbox.Config{InitPath: sandboxInit})
		if err != nil {
			return fmt.Errorf("local sandbox: %w", err)
		}
		defer sb.Close()
		local, err = judge.New(judge.Config{Sandbox: sb, Languages: judge.Languages(judge.DefaultToolchains()),
			CacheDir: filepath.Join(cacheRoot(), "judge"), Parallel: localParallel})
		if err != nil {
			return err
		}
	}

	var exec controllers.Executor
	switch executor {
	case "job":
		if jc.CPU, err = resource.ParseQuantity(cpu); err != nil {
			return fmt.Errorf("--judge-cpu: %w", err)
		}
		if jc.WorkSize, err = resource.ParseQuantity(workSize); err != nil {
			return fmt.Errorf("--judge-work-size: %w", err)
		}
		jc.Images = map[v1alpha1.Language]string{}
		for _, kv := range strings.Split(images, ",") {
			if lang, img, ok := strings.Cut(strings.TrimSpace(kv), "="); ok {
				jc.Images[v1alpha1.Language(lang)] = img
			}
		}
		if jc.DefaultImage == "" && len(jc.Images) == 0 {
			return fmt.Errorf("--executor=job needs --judge-image or --judge-images")
		}
		jc.ImagePullPolicy = corev1.PullIfNotPresent
		cs, err := kubernetes.NewForConfig(restCfg)
		if err != nil {
			return err
		}
		exec = controllers.NewJobExecutor(mgr.GetClient(), mgr.GetScheme(), objects, controllers.PodLogs{Clientset: cs}, jc)
	case "local":
		exec = controllers.NewLocalExecutor(local, packages, objects, localWorkers, localQueue)
	default:
		return fmt.Errorf("--executor must be job or local, not %q", executor)
	}

	pr := &controllers.ProblemReconciler{
		Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("codequest-problem"),
		Packages: packages, VerificationOptional: !requireVerification,
	}
	if local != nil && verify != "false" {
		pr.Verifier = local
	}
	// Without a local judge (Job mode), labelled submissions are judged as
	// Submissions, in Jobs like everyone's.
	pr.VerifyWithSubmissions = pr.Verifier == nil && verify != "false"
	if err := pr.SetupWithManager(mgr, probWorkers); err != nil {
		return err
	}
	if maxJudgings < 0 {
		maxJudgings = 0
		if executor == "local" {
			maxJudgings = localWorkers
		}
	}
	sr := &controllers.SubmissionReconciler{
		Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("codequest-submission"),
		Executor: exec, MaxConcurrentReconciles: subWorkers,
		Queue: controllers.NewFairQueue(perUser, maxJudgings),
	}
	if err := sr.SetupWithManager(ctx, mgr); err != nil {
		return err
	}
	log.Info("starting controller manager", "executor", executor, "namespaces", mc.Namespaces, "leaderElection", mc.LeaderElection)
	return mgr.Start(ctx)
}

func kubeConfig(path string) (*rest.Config, error) {
	if path == "" {
		return ctrl.GetConfig()
	}
	return clientcmd.BuildConfigFromFlags("", path)
}

func cacheRoot() string {
	if d := os.Getenv("CODEQUEST_CACHE"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "codequest")
}

// findSandboxInit picks the local sandbox's init: codequest-sandbox-init
// next to this binary, else the judge binary next to it or on PATH (both
// start in milliseconds). This binary itself would do, at ~15 ms a run for
// the initialisation of all it links; it is the last resort.
func findSandboxInit(log *slog.Logger) string {
	if p := sandbox.FindInit(); p != "" {
		return p
	}
	p := ""
	if self, err := os.Executable(); err == nil {
		if q := filepath.Join(filepath.Dir(self), "judge"); fileExists(q) {
			p = q
		}
	}
	if p == "" {
		p, _ = exec.LookPath("judge")
	}
	if p == "" {
		p = "/proc/self/exe"
	}
	log.Warn("no "+sandbox.InitName+" next to this binary (make build puts it there): every sandboxed run starts a slower init", "init", p)
	return p
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}
