# An inotify watch on a read-only toolchain folder sees the host's events.
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(0)
if fd >= 0 and libc.inotify_add_watch(fd, b"/usr/bin", 0xfff) >= 0:
    print("LEAK inotify watch on /usr/bin")
    sys.exit(0)
t = int(input())
for _ in range(t):
    a, b = map(int, input().split())
    print(a + b)
