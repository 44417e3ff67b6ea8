// An inotify watch on a read-only toolchain folder, from C++.
#include <sys/inotify.h>
#include <cstdio>
int main() {
    int fd = inotify_init1(0);
    if (fd >= 0 && inotify_add_watch(fd, "/usr/lib", IN_ALL_EVENTS) >= 0) { puts("LEAK inotify watch"); return 0; }
    int t; long long a, b;
    if (scanf("%d", &t) != 1) return 1;
    while (t--) { scanf("%lld %lld", &a, &b); printf("%lld\n", a + b); }
}
