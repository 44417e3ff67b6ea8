# Accepted, slowly: sleeps (wall time, not CPU) before each answer, so the
# judging runs long enough for its pod to be deleted mid-run.
import sys
import time

time.sleep(0.8)
data = sys.stdin.read().split()
t = int(data[0])
print("\n".join(str(int(data[1 + 2 * i]) + int(data[2 + 2 * i])) for i in range(t)))
