// Command pause is the process of a pod sandbox: it holds the pod's namespaces open,
// reaps the orphans it inherits as PID 1, and exits on SIGINT or SIGTERM. The e2e_k8s
// node imports it as its sandbox image (there is no registry here to pull one from).
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
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
