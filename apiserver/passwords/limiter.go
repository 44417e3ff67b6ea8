package passwords

import (
	"context"
	"errors"
	"time"
)

// ErrBusy is returned when no hashing slot freed up in time.
var ErrBusy = errors.New("too many password checks at once")

// Limiter caps the password hashes (argon2id: ~19 MiB and tens of
// milliseconds of one core each) computed at once across every caller of a
// process, so that a flood of sign-ins and registrations cannot take all
// the CPU and memory from other requests. A caller waits a little for a
// slot, then gives up with ErrBusy (which the API answers with
// resource_exhausted and Retry-After).
type Limiter struct {
	slots chan struct{}
	wait  time.Duration
}

// NewLimiter returns a Limiter of n slots (at least one) whose callers
// wait at most wait for one.
func NewLimiter(n int, wait time.Duration) *Limiter {
	return &Limiter{slots: make(chan struct{}, max(n, 1)), wait: wait}
}

// Do runs f in a slot.
func (l *Limiter) Do(ctx context.Context, f func()) error {
	select {
	case l.slots <- struct{}{}:
	default:
		t := time.NewTimer(l.wait)
		defer t.Stop()
		select {
		case l.slots <- struct{}{}:
		case <-t.C:
			return ErrBusy
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer func() { <-l.slots }()
	f()
	return nil
}
