// 600 bytes of source, a 100 MiB executable: an initialised array.
#include <cstdio>
int big[25 << 20] = {1};
int main() { printf("%d\n", big[0]); }
