// Spins without end: TIME_LIMIT_EXCEEDED.
int main() {
	volatile unsigned long x = 0;
	for (;;) x++;
}
