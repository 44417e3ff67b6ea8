package sandbox

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// A Sandbox gives its runs the uids of one block of uidBlockSize, the
// first for compiles. Uids must not be shared between two judges on one
// kernel: RLIMIT_NPROC counts a uid's processes host-wide, and a process
// may signal another of its uid. Judges on one host claim the blocks below
// podBlocks through lock files (claimUIDBlock); judge pods, whose files
// are their own, derive theirs from their pod's IP address, unique on a
// node (UIDBaseForPod).
const (
	uidFirst     = 2_000_000
	uidBlockSize = 1000
	podBlocks    = 1 << 16
)

// uidLockDir holds the host's block claims: a block is claimed while a
// process holds an exclusive flock on its file (released when the process
// ends, whatever way it ends). The files are never removed: removing one
// would let two processes lock two different files of the same name.
const uidLockDir = "/run/codequest-sandbox/uids"

// claimUIDBlock claims the lowest free block and returns its first uid and
// the lock that holds it.
func claimUIDBlock() (int, *os.File, error) {
	dir := uidLockDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		dir = filepath.Join(os.TempDir(), "codequest-sandbox-uids")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return 0, nil, fmt.Errorf("uid claims: %w", err)
		}
	}
	for b := 0; b < podBlocks; b++ {
		f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(b)), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return 0, nil, fmt.Errorf("uid claims: %w", err)
		}
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return uidFirst + b*uidBlockSize, f, nil
		}
		f.Close()
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return 0, nil, fmt.Errorf("uid claims: lock %s: %w", f.Name(), err)
		}
	}
	return 0, nil, fmt.Errorf("uid claims: all %d blocks taken", podBlocks)
}

// UIDBaseForPod is the first uid of the block of a judge pod with IP
// address ip: the address's last 16 bits pick one of podBlocks blocks
// above the host's, so two pods of one node never share a uid as long as
// the node's pods differ in those bits: an IPv4 pod range of /16 or less
// per node (Kubernetes' default is /24), an IPv6 one of /112 or less, or
// one that IPAM hands out in order (host-local does).
func UIDBaseForPod(ip string) (int, error) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return 0, fmt.Errorf("pod IP: %w", err)
	}
	b := a.As16()
	low := int(b[14])<<8 | int(b[15])
	return uidFirst + (podBlocks+low)*uidBlockSize, nil
}
