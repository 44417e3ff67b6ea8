// A user namespace: clone and unshare with CLONE_NEWUSER.
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cstdio>
int main() {
    long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (r == 0) _exit(0);
    if (r > 0) { waitpid(r, nullptr, 0); puts("LEAK user namespace by clone"); return 0; }
    if (unshare(CLONE_NEWUSER) == 0) { puts("LEAK user namespace by unshare"); return 0; }
    if (unshare(CLONE_NEWNET) == 0) { puts("LEAK network namespace by unshare"); return 0; }
    int t; long long a, b;
    if (scanf("%d", &t) != 1) return 1;
    while (t--) { scanf("%lld %lld", &a, &b); printf("%lld\n", a + b); }
}
