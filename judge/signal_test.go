package judge

import "syscall"

// syscallZero probes whether a process exists.
const syscallZero = syscall.Signal(0)
