// Command pause is the pod sandbox ("infra") container of a node without a
// registry, like Kubernetes' pause: it holds the pod's namespaces, reaps
// the zombies re-parented to it (it is PID 1 when the pod shares its PID
// namespace) and exits 0 on SIGTERM or SIGINT.
//
// It uses the standard library only, so the image is keyed by this file
// and the Go version alone (hack/images.sh pause). Build it static:
//
//	CGO_ENABLED=0 go build -trimpath -ldflags=-s ./sandbox/images/pause
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "pause takes no arguments; it waits for SIGTERM or SIGINT")
		os.Exit(1)
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range sigs {
		if sig == syscall.SIGCHLD {
			reap()
			continue
		}
		os.Exit(0)
	}
}

// reap waits for every child that has exited. Signals coalesce, so one
// SIGCHLD may stand for many children.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
	}
}
