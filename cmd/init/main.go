// Command init is stageinit: the /init of an initramfs for diskless servers
// (pid 1), a microVM init, and a container entrypoint (init -- COMMAND).
package main

import (
	"fmt"
	"os"
	"strings"
)

// version is set by the Makefile with -ldflags "-X main.version=...".
var version = "dev"

const usage = "usage: init [-v|--verbose] [-V|--version] [-- COMMAND [ARG...]]\n"

type options struct {
	verbose, version bool
	command          []string
	unknown          []string
}

// parseArgs reads the command line. Words it does not understand are
// returned in unknown: pid 1 ignores them (stray kernel boot arguments),
// supervisor mode refuses them.
func parseArgs(args []string) options {
	var o options
	for i, a := range args {
		switch {
		case a == "--":
			o.command = args[i+1:]
			return o
		case a == "-v" || a == "--verbose":
			o.verbose = true
		case a == "-V" || a == "--version":
			o.version = true
		default:
			o.unknown = append(o.unknown, a)
		}
	}
	return o
}

func main() {
	if len(os.Args) > 1 && strings.HasPrefix(os.Args[1], rebootHelperFlag) {
		rebootHelper(strings.TrimPrefix(os.Args[1], rebootHelperFlag))
	}
	closeInheritedFDs()
	resetIgnored()
	o := parseArgs(os.Args[1:])
	if os.Getpid() == 1 {
		pid1(o) // never returns
	}
	if o.version {
		fmt.Println("stageinit", version)
		os.Exit(0)
	}
	if len(o.unknown) > 0 || len(o.command) == 0 {
		if len(o.unknown) > 0 {
			fmt.Fprintf(os.Stderr, "init: unknown argument %q\n", o.unknown[0])
		}
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	os.Exit(supervise(o))
}
