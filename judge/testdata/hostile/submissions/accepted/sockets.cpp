// AF_VSOCK, AF_PACKET and AF_ALG sockets from C++.
#include <sys/socket.h>
#include <unistd.h>
#include <cstdio>
int main() {
    int fams[][2] = {{40, SOCK_STREAM}, {17, SOCK_RAW}, {38, SOCK_SEQPACKET}};
    for (auto& f : fams) {
        int s = socket(f[0], f[1], 0);
        if (s >= 0) { printf("LEAK socket family %d\n", f[0]); return 0; }
    }
    int t; long long a, b;
    if (scanf("%d", &t) != 1) return 1;
    while (t--) { scanf("%lld %lld", &a, &b); printf("%lld\n", a + b); }
}
