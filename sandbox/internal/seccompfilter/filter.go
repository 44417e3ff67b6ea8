// Package seccompfilter assembles the sandbox's seccomp filter. It runs at
// `make generate` time (see gen/), not in the judge: the sandbox embeds the
// assembled program as a table, so the runs' init links none of the
// assembler and pays none of its start-up.
//
// The filter is an allow-list in the spirit of Docker's default profile and
// nsjail's policies: the system calls a judged program, a compiler or a
// language runtime makes are allowed (some only with safe arguments); the
// ones known to be dangerous fail with EPERM; everything else — a system
// call this table does not know, a newer one than it — fails with ENOSYS,
// which runtimes read as "not available here" and fall back from.
package seccompfilter

import (
	"fmt"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Allowed are the system calls a run may make with any arguments. Kernel
// surface that unprivileged code could otherwise reach (namespaces, mounts,
// tracing, keyrings, BPF, io_uring, inotify, AIO, POSIX message queues,
// NUMA policy, module loading) is not here.
var Allowed = []string{
	// Files and descriptors.
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
	"open", "openat", "openat2", "creat", "close", "close_range", "lseek", "dup", "dup2", "dup3",
	"fcntl", "flock", "ioctl", "fsync", "fdatasync", "sync", "syncfs", "sync_file_range",
	"truncate", "ftruncate", "fallocate", "fadvise64", "readahead",
	"stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs",
	"access", "faccessat", "faccessat2", "getdents", "getdents64", "getcwd", "chdir", "fchdir",
	"mkdir", "mkdirat", "rmdir", "rename", "renameat", "renameat2", "link", "linkat", "unlink", "unlinkat",
	"symlink", "symlinkat", "readlink", "readlinkat", "mknod", "mknodat",
	"chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "fchownat", "lchown", "umask",
	"utime", "utimes", "utimensat", "futimesat",
	"getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr",
	"setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
	"pipe", "pipe2", "splice", "tee", "vmsplice", "sendfile", "copy_file_range",
	"select", "pselect6", "poll", "ppoll", "epoll_create", "epoll_create1", "epoll_ctl",
	"epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2",
	"signalfd", "signalfd4", "timerfd_create", "timerfd_settime", "timerfd_gettime", "memfd_create",
	// Memory.
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "msync", "mincore",
	"mlock", "mlock2", "munlock", "mlockall", "munlockall", "membarrier",
	"pkey_alloc", "pkey_free", "pkey_mprotect", "map_shadow_stack", "mseal",
	// Processes, threads, signals (a run has its own PID namespace).
	"fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid",
	"kill", "tkill", "tgkill", "pidfd_open", "pidfd_send_signal",
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait",
	"rt_sigsuspend", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "pause", "restart_syscall",
	"set_tid_address", "set_robust_list", "get_robust_list", "rseq", "arch_prctl", "prctl", "seccomp",
	"futex", "futex_waitv", "sched_yield", "sched_getaffinity", "sched_setaffinity",
	"sched_getparam", "sched_setparam", "sched_getscheduler", "sched_setscheduler",
	"sched_getattr", "sched_setattr", "sched_get_priority_max", "sched_get_priority_min",
	"sched_rr_get_interval", "getpriority", "setpriority", "ioprio_get", "ioprio_set", "getcpu",
	"getpid", "getppid", "gettid", "getpgid", "setpgid", "getpgrp", "getsid", "setsid",
	"getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups",
	"setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid",
	"capget", "capset", "getrlimit", "setrlimit", "prlimit64", "getrusage", "times", "uname", "sysinfo",
	// Time.
	"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
	"alarm", "getitimer", "setitimer", "timer_create", "timer_settime", "timer_gettime",
	"timer_getoverrun", "timer_delete",
	// Sockets: the run's network namespace has only a loopback that is
	// down; socket() itself is allowed for the families in socketFamilies.
	"bind", "listen", "accept", "accept4", "connect", "shutdown", "getsockname", "getpeername",
	"getsockopt", "setsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
	// System V IPC (the run has its own IPC namespace).
	"shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl",
	"msgget", "msgsnd", "msgrcv", "msgctl",
	"getrandom", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
}

// Denied fail with EPERM: what an unprivileged process would be refused,
// or kernel surface no judged program needs and exploits go through.
var Denied = []string{
	"mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
	"fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
	"ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "process_mrelease",
	"pidfd_getfd", "kcmp", "bpf", "perf_event_open", "userfaultfd",
	"fanotify_init", "fanotify_mark", "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd",
	"keyctl", "add_key", "request_key",
	"open_by_handle_at", "name_to_handle_at",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	"sethostname", "setdomainname", "iopl", "ioperm", "modify_ldt", "syslog", "vhangup",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	"io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents",
	"mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr",
	"mbind", "set_mempolicy", "get_mempolicy", "migrate_pages", "move_pages", "set_mempolicy_home_node",
	"memfd_secret", "remap_file_pages", "lookup_dcookie", "nfsservctl", "uselib", "ustat", "sysfs", "_sysctl",
}

// refusedConditional is what a conditionally allowed system call gets when
// its arguments are not allowed.
var refusedConditional = map[string]unix.Errno{
	"clone": unix.EPERM, "personality": unix.EPERM,
	"socket": unix.EAFNOSUPPORT, "socketpair": unix.EAFNOSUPPORT,
}

// NamespaceFlags are the clone flags that create namespaces. An
// unprivileged process may still create a user namespace, and inside it
// it holds every capability (CAP_SYS_ADMIN, CAP_NET_ADMIN: AF_PACKET,
// nf_tables, veth), the kernel surface of public privilege escalations.
// clone with any of them fails with EPERM; CLONE_NEWTIME is clone3-only.
const NamespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
	unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET

// SocketFamilies are the address families socket() may create; any other
// (AF_PACKET, AF_VSOCK — not isolated by network namespaces —, AF_ALG,
// AF_BLUETOOTH, ...) fails with EAFNOSUPPORT. Netlink is limited to
// NETLINK_ROUTE, which runtimes use to list interfaces.
var SocketFamilies = []uint64{unix.AF_UNIX, unix.AF_INET, unix.AF_INET6}

// Personalities are the personality() values allowed, as in Docker's
// profile: the query and the plain Linux personalities. The others
// (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC) weaken the run's own hardening.
var Personalities = []uint64{0, 0x0008, 0x20000, 0x20008, 0xffffffff}

func errno(e unix.Errno) seccomp.Action { return seccomp.ActionErrno | seccomp.Action(e) }

// Policy is the filter before assembly.
func Policy() seccomp.Policy {
	var conditional []seccomp.NameWithConditions
	// clone without namespace flags (fork, threads: glibc, Go, the JVM).
	conditional = append(conditional, seccomp.NameWithConditions{Name: "clone",
		Conditions: seccomp.ArgumentConditions{{Argument: 0, Operation: seccomp.BitsNotSet, Value: NamespaceFlags}}})
	for _, f := range SocketFamilies {
		conditional = append(conditional, seccomp.NameWithConditions{Name: "socket",
			Conditions: seccomp.ArgumentConditions{{Argument: 0, Operation: seccomp.Equal, Value: f}}})
	}
	conditional = append(conditional,
		seccomp.NameWithConditions{Name: "socket", Conditions: seccomp.ArgumentConditions{
			{Argument: 0, Operation: seccomp.Equal, Value: unix.AF_NETLINK},
			{Argument: 2, Operation: seccomp.Equal, Value: unix.NETLINK_ROUTE}}},
		seccomp.NameWithConditions{Name: "socketpair", Conditions: seccomp.ArgumentConditions{
			{Argument: 0, Operation: seccomp.Equal, Value: unix.AF_UNIX}}})
	for _, p := range Personalities {
		conditional = append(conditional, seccomp.NameWithConditions{Name: "personality",
			Conditions: seccomp.ArgumentConditions{{Argument: 0, Operation: seccomp.Equal, Value: p}}})
	}
	return seccomp.Policy{
		// The library takes no errno with its default action: Assemble
		// replaces it (see refusals).
		DefaultAction: seccomp.ActionErrno,
		Syscalls: []seccomp.SyscallGroup{
			{Action: seccomp.ActionAllow, Names: Allowed},
			// Runtimes fall back to clone when clone3 is "not implemented";
			// its flags sit in memory, where a filter cannot read them.
			{Action: errno(unix.ENOSYS), Names: []string{"clone3"}},
			{Action: errno(unix.EPERM), Names: Denied},
			// Last: checking arguments overwrites the system call number
			// the groups compare with.
			{Action: seccomp.ActionAllow, NamesWithCondtions: conditional},
		},
	}
}

// Assemble returns the filter. The library's prologue sends system calls
// of a foreign architecture (the i386 ABI through int 0x80) and of the x32
// ABI to the default action, ENOSYS, since the tables are in x86-64
// numbers.
func Assemble() ([]bpf.RawInstruction, error) {
	policy := Policy()
	insts, err := policy.Assemble()
	if err != nil {
		return nil, fmt.Errorf("assemble the seccomp policy: %w", err)
	}
	// The last instruction is the default action, where foreign
	// architectures and refused arguments jump too: it becomes refusals.
	last, ok := insts[len(insts)-1].(bpf.RetConstant)
	if !ok || last.Val != uint32(errno(unix.EPERM)) {
		return nil, fmt.Errorf("the seccomp program ends with %v, not the default action", insts[len(insts)-1])
	}
	tail, err := refusals()
	if err != nil {
		return nil, err
	}
	return bpf.Assemble(append(insts[:len(insts)-1], tail...))
}

// refusals ends the filter: ENOSYS for a foreign architecture; for a
// conditionally allowed system call whose arguments were refused, its
// errno in refusedConditional; ENOSYS for every other system call.
func refusals() ([]bpf.Instruction, error) {
	enosys := bpf.RetConstant{Val: uint32(errno(unix.ENOSYS))}
	tail := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4}, // seccomp_data.arch
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: auditArchX8664, SkipTrue: 1},
		enosys,
		bpf.LoadAbsolute{Off: 0, Size: 4}, // seccomp_data.nr
	}
	x86, err := arch.GetInfo("amd64")
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"clone", "personality", "socket", "socketpair"} {
		nr, ok := x86.SyscallNames[name]
		if !ok {
			return nil, fmt.Errorf("no system call %s", name)
		}
		tail = append(tail,
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(nr), SkipFalse: 1},
			bpf.RetConstant{Val: uint32(errno(refusedConditional[name]))})
	}
	return append(tail, enosys), nil
}

// auditArchX8664 is AUDIT_ARCH_X86_64.
const auditArchX8664 = 0xc000003e
