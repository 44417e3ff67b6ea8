package controllers

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/codequest-dev/codequest/api/v1alpha1"
	"github.com/codequest-dev/codequest/judge"
)

func queued(name, user string, created time.Time) *v1alpha1.Submission {
	s := newSubmission("ns", name, "p", "x")
	s.Labels[v1alpha1.UserLabel] = user
	s.CreationTimestamp = metav1.NewTime(created)
	return s
}

// The queue's decisions, step by step: per-user caps, round robin between
// users for free places, oldest first within a user.
func TestFairQueueOrder(t *testing.T) {
	q := NewFairQueue(2, 3)
	t0 := time.Now()
	var alice []*v1alpha1.Submission
	for i := range 20 {
		alice = append(alice, queued(fmt.Sprintf("a%02d", i), "alice", t0.Add(time.Duration(i)*time.Second)))
	}
	bob := queued("b", "bob", t0.Add(time.Minute))
	carol := queued("c", "carol", t0.Add(2*time.Minute))
	admitted := func(s *v1alpha1.Submission) bool { ok, _ := q.Admit(s); return ok }
	// All of alice's are known (reconciled) before bob's.
	for i := range 20 {
		q.mu.Lock()
		q.waiting[types.NamespacedName{Namespace: "ns", Name: alice[i].Name}] = waiter{user: userOf(alice[i]), created: alice[i].CreationTimestamp.Time, sub: alice[i]}
		q.mu.Unlock()
	}
	// Alice's newer submission waits for her older ones.
	if admitted(alice[5]) {
		t.Fatal("a05 admitted before a00")
	}
	for i := range 20 {
		ok := admitted(alice[i])
		if want := i < 2; ok != want {
			t.Fatalf("a%02d admitted = %v, want %v (per-user cap 2)", i, ok, want)
		}
	}
	if !admitted(bob) {
		t.Fatal("bob waits behind alice's backlog")
	}
	if admitted(carol) { // the total is 3
		t.Fatal("carol admitted past the total")
	}
	// Alice's judging ends: the free place is carol's (no judging in
	// flight), not alice's next.
	q.Done(types.NamespacedName{Namespace: "ns", Name: "a00"})
	if admitted(alice[2]) {
		t.Fatal("alice's third took the place of carol")
	}
	if !admitted(carol) {
		t.Fatal("carol not admitted after a place freed")
	}
	q.Done(types.NamespacedName{Namespace: "ns", Name: "b"})
	if !admitted(alice[2]) {
		t.Fatal("alice's next not admitted when nobody else waits")
	}
}

// gatedExecutor starts judgings instantly and finishes them when the test
// says so.
type gatedExecutor struct {
	mu      sync.Mutex
	started []string
	done    map[string]bool
}

func (g *gatedExecutor) Start(_ context.Context, sub *v1alpha1.Submission, _ *v1alpha1.Problem) (*v1alpha1.JobReference, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range g.started {
		if s == sub.Name {
			return nil, nil
		}
	}
	g.started = append(g.started, sub.Name)
	return nil, nil
}

func (g *gatedExecutor) Observe(_ context.Context, sub *v1alpha1.Submission) (Observation, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range g.started {
		if s == sub.Name {
			if g.done[s] {
				return Observation{State: StateDone, Outcome: &Outcome{Result: judge.Compact{Verdict: judge.Accepted, Passed: 1, Total: 1}}}, nil
			}
			return Observation{State: StateRunning, Test: 1, Total: 1, PollAfter: 100 * time.Millisecond}, nil
		}
	}
	return Observation{State: StateAbsent}, nil
}

func (g *gatedExecutor) Release(context.Context, types.NamespacedName) error { return nil }

func (g *gatedExecutor) finish(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.done[name] = true
}

func (g *gatedExecutor) startedList() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.started...)
}

var _ = Describe("The fair judge queue", Ordered, func() {
	const ns = "codequest-fair"
	var (
		ctx  = context.Background()
		mgr  *manager
		exec = &gatedExecutor{done: map[string]bool{}}
	)
	BeforeAll(func() {
		mgr = startManagerWith(ns, func(ctrl.Manager) Executor { return exec }, func(*ProblemReconciler) {},
			func(sr *SubmissionReconciler) { sr.Queue = NewFairQueue(2, 2) })
		readyProblem(ctx, ns, "sum", nil)
	})
	AfterAll(func() {
		if mgr != nil {
			mgr.stop()
		}
	})

	It("starts another user's submission within one slot of a user's twenty", func() {
		for i := range 20 {
			s := newSubmission(ns, fmt.Sprintf("alice-%02d", i), "sum", "print(1)")
			Expect(k8sClient.Create(ctx, s)).To(Succeed())
		}
		// Both places are alice's; her other 18 wait in the fair queue.
		Eventually(func(g Gomega) {
			g.Expect(exec.startedList()).To(HaveLen(2))
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(exec.startedList()).To(HaveLen(2))
		}, "1s").Should(Succeed())
		bob := newSubmission(ns, "bob", "sum", "print(2)")
		bob.Labels[v1alpha1.UserLabel] = "bob"
		Expect(k8sClient.Create(ctx, bob)).To(Succeed())
		Eventually(func(g Gomega) {
			s := getSub(ctx, g, bob)
			c := meta.FindStatusCondition(s.Status.Conditions, ConditionScheduled)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(ReasonFairQueue))
		}).Should(Succeed())

		// One of alice's judgings ends: the place is bob's.
		first := exec.startedList()[0]
		exec.finish(first)
		Eventually(func(g Gomega) {
			g.Expect(exec.startedList()).To(HaveLen(3))
		}).Should(Succeed())
		Expect(exec.startedList()[2]).To(Equal("bob"), "the freed place went to %v", exec.startedList())

		// Then alice's backlog drains, oldest first, two at a time.
		for range 18 {
			started := exec.startedList()
			for _, s := range started {
				exec.finish(s)
			}
			Eventually(func(g Gomega) {
				g.Expect(len(exec.startedList())).To(BeNumerically(">", len(started)))
			}).Should(Succeed())
			if len(exec.startedList()) == 21 {
				break
			}
		}
		Expect(exec.startedList()).To(HaveLen(21))
	})
})
