package controllers

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/codequest-dev/codequest/judge"
)

// LocalConfig is single-machine judging: the same reconcilers as in a
// cluster, with the LocalExecutor judging on this host.
type LocalConfig struct {
	// Judge judges submissions and packages' labelled submissions.
	Judge *judge.Judge
	// Objects holds the problem packages.
	Objects ObjectStoreConfig
	// PackageDir caches unpacked packages.
	PackageDir string
	// Workers judge at once; at most Queue wait.
	Workers, Queue int
	// PerUser caps one user's judgings in flight (0: no cap); places free
	// up fairly between users.
	PerUser int
	// SubmissionConcurrency and ProblemConcurrency bound the reconcilers.
	SubmissionConcurrency, ProblemConcurrency int
	// VerificationOptional makes Problems Ready whatever their labelled
	// submissions get.
	VerificationOptional bool
}

// SetupLocal adds the Problem and Submission reconcilers with the local
// executor to mgr.
func SetupLocal(ctx context.Context, mgr ctrl.Manager, cfg LocalConfig) error {
	objects, err := NewObjectStore(cfg.Objects)
	if err != nil {
		return fmt.Errorf("object store: %w", err)
	}
	packages := NewPackageCache(objects, cfg.PackageDir)
	pr := &ProblemReconciler{
		Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("codequest-problem"),
		Packages: packages, Verifier: cfg.Judge, VerificationOptional: cfg.VerificationOptional,
	}
	if err := pr.SetupWithManager(mgr, max(1, cfg.ProblemConcurrency)); err != nil {
		return err
	}
	sr := &SubmissionReconciler{
		Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("codequest-submission"),
		Executor:                NewLocalExecutor(cfg.Judge, packages, objects, max(1, cfg.Workers), max(1, cfg.Queue)),
		MaxConcurrentReconciles: max(1, cfg.SubmissionConcurrency),
		Queue:                   NewFairQueue(cfg.PerUser, max(1, cfg.Workers)),
	}
	return sr.SetupWithManager(ctx, mgr)
}
