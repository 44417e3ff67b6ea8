package controllers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/codequest-dev/codequest/api/v1alpha1"
	"github.com/codequest-dev/codequest/judge"
	"github.com/codequest-dev/codequest/judge/jobrun"
)

// progressInterval is the shortest time between two progress updates of
// one local judging.
const progressInterval = 100 * time.Millisecond

// LocalExecutor judges Submissions in this process with the judge and
// sandbox packages, at most Workers at a time: single-machine mode, where
// there is no kubelet to run Jobs.
type LocalExecutor struct {
	judge    jobrun.Judger
	packages *PackageCache
	objects  ObjectGetter
	slots    chan struct{}
	maxQueue int
	events   chan event.TypedGenericEvent[*v1alpha1.Submission]

	mu   sync.Mutex
	runs map[types.NamespacedName]*localRun
}

type localRun struct {
	uid    types.UID
	cancel context.CancelFunc
	obs    Observation
}

// NewLocalExecutor returns a LocalExecutor running at most workers
// judgings at once and holding at most maxQueue waiting ones (more are
// refused like a quota: the Submission stays Queued and is retried).
func NewLocalExecutor(j jobrun.Judger, packages *PackageCache, objects ObjectGetter, workers, maxQueue int) *LocalExecutor {
	return &LocalExecutor{
		judge: j, packages: packages, objects: objects,
		slots: make(chan struct{}, max(workers, 1)), maxQueue: max(maxQueue, 1),
		events: make(chan event.TypedGenericEvent[*v1alpha1.Submission], 1024),
		runs:   map[types.NamespacedName]*localRun{},
	}
}

var _ Executor = (*LocalExecutor)(nil)

func (e *LocalExecutor) watch(b *ctrl.Builder) *ctrl.Builder {
	return b.WatchesRawSource(source.Channel(e.events, &handler.TypedEnqueueRequestForObject[*v1alpha1.Submission]{}))
}

// Start queues sub for judging.
func (e *LocalExecutor) Start(ctx context.Context, sub *v1alpha1.Submission, prob *v1alpha1.Problem) (*v1alpha1.JobReference, error) {
	key := types.NamespacedName{Namespace: sub.Namespace, Name: sub.Name}
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.runs[key]; ok && r.uid == sub.UID {
		return nil, nil
	}
	waiting := 0
	for _, r := range e.runs {
		if r.obs.State == StatePending {
			waiting++
		}
	}
	if waiting >= e.maxQueue {
		return nil, fmt.Errorf("%w: %d judgings wait already", ErrQuotaExceeded, waiting)
	}
	rctx, cancel := context.WithCancel(context.Background())
	run := &localRun{uid: sub.UID, cancel: cancel, obs: Observation{State: StatePending, Message: "Waiting for a local judge worker"}}
	// With a worker free the judging is under way when Start returns, so
	// the reconcile that started it records Compiling in the same write.
	started := false
	select {
	case e.slots <- struct{}{}:
		started = true
		run.obs = Observation{State: StateCompiling}
	default:
	}
	e.runs[key] = run
	go e.run(rctx, key, sub.DeepCopy(), prob.DeepCopy(), run, started)
	return nil, nil
}

func (e *LocalExecutor) run(ctx context.Context, key types.NamespacedName, sub *v1alpha1.Submission, prob *v1alpha1.Problem, run *localRun, started bool) {
	if !started {
		select {
		case e.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		e.update(key, run, sub, func(o *Observation) { o.State = StateCompiling })
	}
	defer func() { <-e.slots }()
	// Progress is coalesced: at most one status write per
	// progressInterval (the first one interval after the start), so a
	// judging of twenty quick tests is not twenty writes, watch events and
	// database updates competing with its runs for CPU. What a write
	// leaves out is written at the end of its interval.
	var (
		mu       sync.Mutex
		notified = time.Now()
		flush    *time.Timer
	)
	res, err := e.judgeOne(ctx, sub, prob, func(pr judge.Progress, passed int) {
		if pr.Phase != "running" {
			return
		}
		e.mu.Lock()
		if e.runs[key] == run {
			o := &run.obs
			o.State, o.Test, o.Total, o.Passed = StateRunning, pr.Test, pr.Total, passed
		}
		e.mu.Unlock()
		mu.Lock()
		defer mu.Unlock()
		if flush != nil {
			return // a write is due; it takes this progress along
		}
		wait := progressInterval - time.Since(notified)
		if wait <= 0 {
			notified = time.Now()
			e.notify(key, run, sub)
			return
		}
		flush = time.AfterFunc(wait, func() {
			mu.Lock()
			flush, notified = nil, time.Now()
			mu.Unlock()
			e.notify(key, run, sub)
		})
	})
	mu.Lock()
	if flush != nil {
		flush.Stop()
	}
	mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	out := &Outcome{}
	if err != nil {
		out.Failed, out.Result = true, judge.Compact{Verdict: judge.InternalError, Message: err.Error()}
	} else {
		out.Result = res.Compact()
		out.Failed = res.Verdict == judge.InternalError
	}
	e.update(key, run, sub, func(o *Observation) { o.State, o.Outcome = StateDone, out })
}

// judgeOne is what `judge job` does in a pod, in-process.
func (e *LocalExecutor) judgeOne(ctx context.Context, sub *v1alpha1.Submission, prob *v1alpha1.Problem, progress func(judge.Progress, int)) (*judge.Result, error) {
	dir, err := e.packages.Get(ctx, prob.Spec.Package)
	if err != nil {
		return nil, err
	}
	var src []byte
	switch {
	case sub.Spec.Source.Inline != nil:
		src = []byte(*sub.Spec.Source.Inline)
	case sub.Spec.Source.Object != nil:
		o := sub.Spec.Source.Object
		rc, err := e.objects.Get(ctx, o.Bucket, o.Key)
		if err != nil {
			return nil, err
		}
		src, err = jobrun.ReadVerified(rc, o.SHA256, o.Size)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("source: %w", err)
		}
	default:
		return nil, errors.New("no source")
	}
	l := prob.Spec.Limits
	limits := jobrun.Limits{TimeMillis: int64(l.TimeMillis), MemoryBytes: l.Memory.Value()}
	if l.Output != nil {
		limits.OutputBytes = l.Output.Value()
	}
	var input *string
	if sub.Spec.Mode == v1alpha1.ModeRun {
		input = sub.Spec.Input
		if input == nil {
			input = new(string)
		}
	}
	scratch, err := os.MkdirTemp("", "codequest-local-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	return jobrun.Judge(ctx, e.judge, jobrun.Request{
		ProblemDir: dir, Language: string(sub.Spec.Language), Source: src, Limits: limits,
		Input: input, Scratch: scratch, Progress: progress,
	})
}

func (e *LocalExecutor) update(key types.NamespacedName, run *localRun, sub *v1alpha1.Submission, f func(*Observation)) {
	e.mu.Lock()
	if e.runs[key] != run {
		e.mu.Unlock()
		return
	}
	f(&run.obs)
	e.mu.Unlock()
	e.notify(key, run, sub)
}

// notify has sub reconciled, which records run's observation.
func (e *LocalExecutor) notify(key types.NamespacedName, run *localRun, sub *v1alpha1.Submission) {
	e.mu.Lock()
	current := e.runs[key] == run
	e.mu.Unlock()
	if !current {
		return
	}
	select {
	case e.events <- event.TypedGenericEvent[*v1alpha1.Submission]{Object: sub}:
	default:
		// The queue is full; the Submission is reconciled soon anyway.
	}
}

// Observe reports the judging of sub from memory. After a restart nothing
// is known and the Submission is judged again.
func (e *LocalExecutor) Observe(ctx context.Context, sub *v1alpha1.Submission) (Observation, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.runs[types.NamespacedName{Namespace: sub.Namespace, Name: sub.Name}]
	if !ok || r.uid != sub.UID {
		return Observation{State: StateAbsent}, nil
	}
	obs := r.obs
	if obs.State != StateDone {
		obs.PollAfter = 30 * time.Second
	}
	return obs, nil
}

// Release stops and forgets the judging of key.
func (e *LocalExecutor) Release(ctx context.Context, key types.NamespacedName) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.runs[key]; ok {
		r.cancel()
		delete(e.runs, key)
	}
	return nil
}
