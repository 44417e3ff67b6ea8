package controllers

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/codequest-dev/codequest/api/v1alpha1"
)

// FairQueue decides which queued Submissions start judging, so that one
// user cannot monopolise the judge: a user has at most PerUser judgings in
// flight, and when judgings are limited in all (Total), a free place goes
// to the user with the fewest in flight, then to the one waiting longest
// (round robin between users); a user's own Submissions start oldest
// first. The Submission reconciler asks it before it starts a judging and
// tells it when one ends; it wakes the Submissions that may start next.
//
// It is in memory: the controller is leader-elected, and after a restart
// it learns the judgings in flight as the reconciler sees them again.
type FairQueue struct {
	// PerUser caps one user's judgings in flight (0: no cap).
	PerUser int
	// Total caps all judgings in flight (0: no cap but the executor's; for
	// fair ordering under a namespace quota, set it to what the quota
	// admits).
	Total int

	mu      sync.Mutex
	running map[types.NamespacedName]string
	waiting map[types.NamespacedName]waiter
	wake    chan event.TypedGenericEvent[*v1alpha1.Submission]
}

type waiter struct {
	user    string
	created time.Time
	sub     *v1alpha1.Submission
}

// NewFairQueue returns a FairQueue of at most perUser judgings per user
// and total in all (0: unlimited).
func NewFairQueue(perUser, total int) *FairQueue {
	return &FairQueue{
		PerUser: perUser, Total: total,
		running: map[types.NamespacedName]string{}, waiting: map[types.NamespacedName]waiter{},
		wake: make(chan event.TypedGenericEvent[*v1alpha1.Submission], 1024),
	}
}

// userOf is whose judging sub is: its user label; a package's labelled
// submissions count as their Problem's.
func userOf(sub *v1alpha1.Submission) string {
	if u := sub.Labels[v1alpha1.UserLabel]; u != "" {
		return "user:" + u
	}
	return "problem:" + sub.Spec.ProblemRef.Name
}

func (q *FairQueue) inFlight(user string) int {
	n := 0
	for _, u := range q.running {
		if u == user {
			n++
		}
	}
	return n
}

// candidates are, in the order they get free places, the oldest waiting
// Submission of every user under the per-user cap.
func (q *FairQueue) candidates() []types.NamespacedName {
	oldest := map[string]types.NamespacedName{}
	for k, w := range q.waiting {
		if q.PerUser > 0 && q.inFlight(w.user) >= q.PerUser {
			continue
		}
		o, ok := oldest[w.user]
		if !ok || before(w, k, q.waiting[o], o) {
			oldest[w.user] = k
		}
	}
	out := make([]types.NamespacedName, 0, len(oldest))
	for _, k := range oldest {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := q.waiting[out[i]], q.waiting[out[j]]
		if na, nb := q.inFlight(a.user), q.inFlight(b.user); na != nb {
			return na < nb
		}
		return before(a, out[i], b, out[j])
	})
	return out
}

func before(a waiter, ak types.NamespacedName, b waiter, bk types.NamespacedName) bool {
	if !a.created.Equal(b.created) {
		return a.created.Before(b.created)
	}
	return ak.String() < bk.String()
}

// Admit reports whether sub may start judging now; if not, why it waits.
// Admitting is idempotent.
func (q *FairQueue) Admit(sub *v1alpha1.Submission) (bool, string) {
	key := types.NamespacedName{Namespace: sub.Namespace, Name: sub.Name}
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.running[key]; ok {
		return true, ""
	}
	user := userOf(sub)
	q.waiting[key] = waiter{user: user, created: sub.CreationTimestamp.Time, sub: sub.DeepCopy()}
	if n := q.inFlight(user); q.PerUser > 0 && n >= q.PerUser {
		return false, fmt.Sprintf("Waiting: %d judgings of the same user run already", n)
	}
	cands := q.candidates()
	free := len(cands)
	if q.Total > 0 {
		free = max(0, q.Total-len(q.running))
	}
	for i, k := range cands {
		if i >= free {
			break
		}
		if k == key {
			delete(q.waiting, key)
			q.running[key] = user
			return true, ""
		}
	}
	if free == 0 {
		return false, fmt.Sprintf("Waiting for a free judge (%d judgings run)", len(q.running))
	}
	return false, "Waiting for the turn of this user's earlier submissions or of other users"
}

// Running records a judging found under way (after a restart).
func (q *FairQueue) Running(sub *v1alpha1.Submission) {
	key := types.NamespacedName{Namespace: sub.Namespace, Name: sub.Name}
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.waiting, key)
	q.running[key] = userOf(sub)
}

// Requeue puts an admitted Submission that could not start (the quota
// refused it) back among the waiting ones.
func (q *FairQueue) Requeue(sub *v1alpha1.Submission) {
	key := types.NamespacedName{Namespace: sub.Namespace, Name: sub.Name}
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.running, key)
	q.waiting[key] = waiter{user: userOf(sub), created: sub.CreationTimestamp.Time, sub: sub.DeepCopy()}
}

// Done forgets a judging that ended (or a Submission that is gone) and
// wakes the Submissions that may start in its place.
func (q *FairQueue) Done(key types.NamespacedName) {
	q.mu.Lock()
	_, wasRunning := q.running[key]
	delete(q.running, key)
	delete(q.waiting, key)
	var wake []*v1alpha1.Submission
	if wasRunning {
		for _, k := range q.candidates() {
			wake = append(wake, q.waiting[k].sub)
		}
	}
	q.mu.Unlock()
	for _, s := range wake {
		select {
		case q.wake <- event.TypedGenericEvent[*v1alpha1.Submission]{Object: s}:
		default: // the backstop requeue gets it
		}
	}
}
