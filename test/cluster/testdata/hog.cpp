// Touches 1 GiB, four times the problem's 256 MiB: MEMORY_LIMIT_EXCEEDED.
#include <cstdlib>
#include <cstring>
#include <cstdio>
int main() {
	const size_t chunk = 16 << 20;
	for (int i = 0; i < 64; i++) {
		char *p = static_cast<char *>(std::malloc(chunk));
		if (!p) return 1;
		std::memset(p, i + 1, chunk);
	}
	std::puts("0");
}
