// An inotify watch on a read-only toolchain folder, from Go.
package main

import (
	"bufio"
	"fmt"
	"os"
	"syscall"
)

func main() {
	if fd, err := syscall.InotifyInit1(0); err == nil {
		if _, err := syscall.InotifyAddWatch(fd, "/usr/bin", syscall.IN_ALL_EVENTS); err == nil {
			fmt.Println("LEAK inotify watch")
			return
		}
	}
	in := bufio.NewReader(os.Stdin)
	var t int
	fmt.Fscan(in, &t)
	for ; t > 0; t-- {
		var a, b int64
		fmt.Fscan(in, &a, &b)
		fmt.Println(a + b)
	}
}
