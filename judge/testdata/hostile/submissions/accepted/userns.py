# A user namespace: clone(CLONE_NEWUSER) through ctypes, and unshare.
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
CLONE_NEWUSER, SIGCHLD = 0x10000000, 17
for name, nr, args in [("clone", 56, [CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0]), ("unshare", 272, [CLONE_NEWUSER])]:
    r = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
    if r == 0 and name == "clone":
        os._exit(0)
    if r >= 0:
        print("LEAK user namespace by", name)
        sys.exit(0)
t = int(input())
for _ in range(t):
    a, b = map(int, input().split())
    print(a + b)
