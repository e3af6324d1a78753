//go:build linux

// Command e2e-netns builds and removes the end-to-end harness's network
// namespaces (package topology). test/e2e/run.sh runs it as root:
//
//	e2e-netns up      create the namespaces, links, addresses and routes
//	e2e-netns down    stop their processes and remove everything up created
//	e2e-netns check   list what is left; exit 1 if anything is
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sensorprobe/sensorprobe/test/e2e/topology"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: e2e-netns up|down|check")
		os.Exit(2)
	}
	// A cleanup must not be cut short by the Ctrl-C that triggered it.
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP)
	ctx := context.Background()
	switch os.Args[1] {
	case "up":
		if err := topology.Up(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "e2e-netns up:", err)
			os.Exit(1)
		}
	case "down":
		if err := topology.Down(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "e2e-netns down:", err)
			os.Exit(1)
		}
	case "check":
		left := topology.Leftovers(ctx)
		for _, l := range left {
			fmt.Println(l)
		}
		if len(left) > 0 {
			os.Exit(1)
		}
	default:
		fmt.Fprintf(os.Stderr, "e2e-netns: unknown command %q (up, down, check)\n", os.Args[1])
		os.Exit(2)
	}
}
