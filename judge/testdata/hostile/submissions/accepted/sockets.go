// AF_VSOCK and AF_PACKET sockets through package syscall.
package main

import (
	"bufio"
	"fmt"
	"os"
	"syscall"
)

func main() {
	for _, f := range [][2]int{{40, syscall.SOCK_STREAM}, {syscall.AF_PACKET, syscall.SOCK_RAW}} {
		if fd, err := syscall.Socket(f[0], f[1], 0); err == nil {
			syscall.Close(fd)
			fmt.Println("LEAK socket family", f[0])
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
