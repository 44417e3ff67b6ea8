# Kernel surface a run must not reach: each call succeeding is a leak.
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
calls = [
    ("ptrace(PTRACE_TRACEME)", 101, [0, 0, 0, 0]),
    ("process_vm_readv", 310, [1, 0, 0, 0, 0, 0]),
    ("io_uring_setup", 425, [1, 0]),
    ("bpf", 321, [0, 0, 0]),
    ("perf_event_open", 298, [0, 0, -1, -1, 0]),
    ("keyctl", 250, [0, 0, 0, 0]),
    ("userfaultfd", 323, [0]),
    ("personality(ADDR_NO_RANDOMIZE)", 135, [0x0040000]),
    ("mount", 165, [0, 0, 0, 0, 0]),
    ("unshare(CLONE_NEWNS)", 272, [0x20000]),
    ("setns", 308, [0, 0]),
    ("pidfd_getfd", 438, [0, 0, 0]),
]
for name, nr, args in calls:
    if libc.syscall(nr, *[ctypes.c_long(a) for a in args]) >= 0:
        print("LEAK", name)
        sys.exit(0)
t = int(input())
for _ in range(t):
    a, b = map(int, input().split())
    print(a + b)
