package sandbox

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Network is an empty network namespace (a loopback, down, and nothing
// else) that runs can share instead of each creating its own. Creating and
// tearing down a network namespace is the dearest part of a run's
// isolation (about 1.5 ms of CPU on a 2-core VM, against 9 ms for a whole
// `python3 -c pass`), so the judge makes one per judging for the runs of
// the submitted program. Share a Network only among runs of one program:
// runs in one namespace can reach each other through abstract Unix
// sockets, though none can reach anything else.
type Network struct {
	f *os.File
}

// Close releases the namespace; runs already started keep it until they
// end. A nil Network is valid (and means: a fresh namespace per run).
func (n *Network) Close() error {
	if n == nil || n.f == nil {
		return nil
	}
	return n.f.Close()
}

// NewNetwork returns a Network for Spec.Network, or nil (a fresh
// namespace per run, as without one) where runs cannot join a shared
// namespace (Layers.SharedNetwork is false).
func (s *Sandbox) NewNetwork() (*Network, error) {
	if !s.layers.SharedNetwork {
		return nil, nil
	}
	f, err := newNetNS()
	if err != nil {
		return nil, fmt.Errorf("create network namespace: %w", err)
	}
	return &Network{f: f}, nil
}

// newNetNS creates a network namespace and returns a handle on it.
func newNetNS() (*os.File, error) {
	var f *os.File
	err := inOtherNetNS(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare: %w", err)
		}
		var err error
		f, err = os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		return err
	})
	return f, err
}

// probeSharedNetwork checks that a namespace can be created and joined
// (gVisor, or a container without the capability, may refuse either).
func probeSharedNetwork() error {
	f, err := newNetNS()
	if err != nil {
		return err
	}
	defer f.Close()
	return inOtherNetNS(func() error {
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("setns: %w", err)
		}
		return nil
	})
}

// inOtherNetNS runs f, which may move the calling thread into another
// network namespace, on a locked thread, and moves the thread back before
// it returns to the Go scheduler. The thread is never left to end: Go
// ends a thread whose goroutine exits locked, and a child started with
// Pdeathsig from that thread earlier in its life (the test harness's and
// `codequest dev`'s services) would be killed with it. A thread that
// cannot move back is parked for good instead.
func inOtherNetNS(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer orig.Close()
		ferr := f()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("return to the judge's network namespace: %w", err)
			select {} // parked, locked, in the wrong namespace: never reused
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}

// joinNetwork moves the calling thread of a run's init into the network
// namespace inherited on fd. The init's main goroutine is locked to its
// thread (Main), so the program it forks from that thread is in it.
func joinNetwork(fd int) error {
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("join network namespace: %w", err)
	}
	return errors.Join(unix.Close(fd))
}
