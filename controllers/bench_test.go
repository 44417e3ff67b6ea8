package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/codequest-dev/codequest/api/v1alpha1"
)

// BenchmarkSubmissionsToJobs creates N (default 1000) Submissions at once
// against envtest and measures the time until every one has its Job, and
// each Submission's create→Job latency (the Job seen through a watch).
//
//	go test -run '^$' -bench SubmissionsToJobs -benchtime 1x ./controllers/
func BenchmarkSubmissionsToJobs(b *testing.B) {
	const n = 1000
	logf.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	assets, err := assetsDir()
	if err != nil {
		b.Fatalf("hack/kube.sh assets: %v", err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets, CRDDirectoryPaths: []string{filepath.Join("..", "config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	cfg, err = env.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer env.Stop()
	cfg.QPS, cfg.Burst = 2000, 4000
	sch := clientgoscheme.Scheme
	if err := v1alpha1.AddToScheme(sch); err != nil {
		b.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: sch})
	if err != nil {
		b.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(c.Create(ctx, &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "gvisor"}, Handler: "runsc"}))

	for i := 0; i < b.N; i++ {
		ns := fmt.Sprintf("bench-%d", i)
		must(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
		mgr, err := ctrl.NewManager(cfg, ManagerOptions(sch, ManagerConfig{Namespaces: []string{ns}, MetricsAddr: "0", ProbeAddr: "0", SkipNameValidation: true}))
		must(err)
		pkgs := NewPackageCache(objects, b.TempDir())
		must((&ProblemReconciler{Client: mgr.GetClient(), Packages: pkgs}).SetupWithManager(mgr, 2))
		exec := NewJobExecutor(mgr.GetClient(), mgr.GetScheme(), objects, nil, JobConfig{DefaultImage: "judge:bench"})
		must((&SubmissionReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("bench"), Executor: exec,
			MaxConcurrentReconciles: 64}).SetupWithManager(ctx, mgr))
		mctx, stop := context.WithCancel(ctx)
		go mgr.Start(mctx)

		pkg, err := packDir(filepath.Join("testdata", "sum"))
		must(err)
		ref := objects.put("problems", ns+"/sum.tar.gz", pkg)
		prob := &v1alpha1.Problem{ObjectMeta: metav1.ObjectMeta{Name: "sum", Namespace: ns}, Spec: v1alpha1.ProblemSpec{
			Title: "Sum", Limits: v1alpha1.ProblemLimits{TimeMillis: 1000, Memory: resource.MustParse("256Mi")}, Package: ref}}
		must(c.Create(ctx, prob))
		for !meta.IsStatusConditionTrue(prob.Status.Conditions, ConditionReady) {
			time.Sleep(20 * time.Millisecond)
			must(c.Get(ctx, client.ObjectKeyFromObject(prob), prob))
		}

		var mu sync.Mutex
		created, seen := map[string]time.Time{}, map[string]time.Time{}
		var trickleLat []time.Duration
		allSeen := make(chan time.Time, 1)
		factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns))
		_, err = factory.Batch().V1().Jobs().Informer().AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc: func(o any) {
				job := o.(*batchv1.Job)
				now := time.Now()
				mu.Lock()
				seen[job.Labels[v1alpha1.SubmissionLabel]] = now
				done := len(seen) == n
				mu.Unlock()
				if done {
					allSeen <- now
				}
			},
		})
		must(err)
		factory.Start(mctx.Done())
		factory.WaitForCacheSync(mctx.Done())

		b.ResetTimer()
		start := time.Now()
		var wg sync.WaitGroup
		names := make(chan string)
		for range 32 {
			wg.Go(func() {
				for name := range names {
					sub := &v1alpha1.Submission{
						ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
						Spec: v1alpha1.SubmissionSpec{ProblemRef: v1alpha1.ProblemReference{Name: "sum"},
							Language: "python3", Source: v1alpha1.Source{Inline: ptr.To("print(1)\n")}},
					}
					if err := c.Create(ctx, sub); err != nil {
						b.Error(err)
						continue
					}
					now := time.Now()
					mu.Lock()
					created[name] = now
					mu.Unlock()
				}
			})
		}
		for k := range n {
			names <- fmt.Sprintf("s-%04d", k)
		}
		close(names)
		wg.Wait()
		createdAll := time.Since(start)
		var end time.Time
		select {
		case end = <-allSeen:
		case <-time.After(2 * time.Minute):
			b.Fatalf("only %d of %d Jobs after 5 minutes", len(seen), n)
		}
		b.StopTimer()

		// Not saturated: one Submission at a time, 20 per second.
		const trickle = 100
		for k := range trickle {
			name := fmt.Sprintf("t-%04d", k)
			sub := &v1alpha1.Submission{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
				Spec: v1alpha1.SubmissionSpec{ProblemRef: v1alpha1.ProblemReference{Name: "sum"},
					Language: "python3", Source: v1alpha1.Source{Inline: ptr.To("print(1)\n")}},
			}
			must(c.Create(ctx, sub))
			t0 := time.Now()
			job := &batchv1.Job{}
			for c.Get(ctx, client.ObjectKey{Namespace: ns, Name: JobName(name)}, job) != nil {
				time.Sleep(2 * time.Millisecond)
			}
			mu.Lock()
			trickleLat = append(trickleLat, time.Since(t0))
			mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
		stop()
		slices.Sort(trickleLat)
		b.ReportMetric(float64(trickleLat[len(trickleLat)*99/100-1].Milliseconds()), "ms-p99-unsaturated")
		b.Logf("unsaturated (%d, one at a time): create→Job p50 %v p99 %v", trickle,
			trickleLat[len(trickleLat)/2].Round(time.Millisecond), trickleLat[len(trickleLat)*99/100-1].Round(time.Millisecond))

		mu.Lock()
		var lat []time.Duration
		for name, t := range created {
			lat = append(lat, max(seen[name].Sub(t), 0))
		}
		mu.Unlock()
		slices.Sort(lat)
		q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
		total := end.Sub(start)
		b.ReportMetric(total.Seconds(), "s-all-jobs")
		b.ReportMetric(createdAll.Seconds(), "s-all-created")
		b.ReportMetric(float64(q(0.5).Milliseconds()), "ms-p50")
		b.ReportMetric(float64(q(0.99).Milliseconds()), "ms-p99")
		b.Logf("%d Submissions: all created in %v, all Jobs in %v; create→Job p50 %v p90 %v p99 %v max %v",
			n, createdAll.Round(time.Millisecond), total.Round(time.Millisecond),
			q(0.5).Round(time.Millisecond), q(0.9).Round(time.Millisecond), q(0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	}
}
