package sandbox

//go:generate go run ./internal/seccompfilter/gen seccomp_filter.go

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// seccompSupported reports whether the kernel has seccomp filters: strict
// mode with a flag is refused with EINVAL where seccomp exists.
func seccompSupported() bool {
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_STRICT, 1, 0)
	return errors.Is(errno, unix.EINVAL)
}

// loadSeccomp installs the deny-list (seccompFilter, generated from
// internal/seccompfilter) on every thread of the calling process, with
// no_new_privs.
func loadSeccomp() error {
	prog := unix.SockFprog{Len: uint16(len(seccompFilter)), Filter: &seccompFilter[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog))); errno != 0 {
		return fmt.Errorf("seccomp(SET_MODE_FILTER): %w", errno)
	}
	return nil
}
