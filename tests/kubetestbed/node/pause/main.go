// Command pause is the testbed node's sandbox ("pause") image: it holds a pod's namespaces, reaps
// the orphans it inherits as PID 1, and exits on SIGINT or SIGTERM. Test infrastructure only (the
// node has no registry to pull the upstream pause image from).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
