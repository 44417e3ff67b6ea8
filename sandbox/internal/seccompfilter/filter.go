// Package seccompfilter assembles the sandbox's seccomp filter. It runs at
// `make generate` time (see gen/), not in the judge: the sandbox embeds the
// assembled program as a table, so the runs' init links none of the
// assembler and pays none of its start-up.
package seccompfilter

import (
	seccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Denied system calls fail with EPERM inside a run. The run is already an
// unprivileged uid without capabilities, so this is a second wall: it
// removes kernel surface (namespaces, mounts, tracing, keyrings, BPF,
// io_uring, module loading) that unprivileged code could otherwise reach.
var Denied = []string{
	"mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
	"ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
	"bpf", "perf_event_open", "userfaultfd", "fanotify_init",
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"reboot", "swapon", "swapoff", "acct", "quotactl",
	"keyctl", "add_key", "request_key",
	"open_by_handle_at", "name_to_handle_at",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	"sethostname", "setdomainname", "iopl", "ioperm", "syslog", "vhangup",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	"fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
	"lookup_dcookie", "nfsservctl",
}

// auditArchX8664 is AUDIT_ARCH_X86_64.
const auditArchX8664 = 0xc000003e

// Assemble returns the filter: system calls of a foreign architecture (the
// i386 ABI through int 0x80) fail with ENOSYS as a whole, since the list
// is written in x86-64 numbers; Denied fail with EPERM; the rest pass.
func Assemble() ([]bpf.RawInstruction, error) {
	policy := seccomp.Policy{
		DefaultAction: seccomp.ActionAllow,
		Syscalls: []seccomp.SyscallGroup{{
			Action: seccomp.ActionErrno | seccomp.Action(unix.EPERM),
			Names:  Denied,
		}},
	}
	insts, err := policy.Assemble()
	if err != nil {
		return nil, err
	}
	prefix := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4}, // seccomp_data.arch
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: auditArchX8664, SkipTrue: 1},
		bpf.RetConstant{Val: uint32(seccomp.ActionErrno) | uint32(unix.ENOSYS)},
	}
	return bpf.Assemble(append(prefix, insts...))
}
