// Command init is stageinit: the /init (pid 1) of an initramfs for
// diskless servers, a microVM init, a container entrypoint
// (ENTRYPOINT ["/init", "--"]) and a supervisor (init -- COMMAND).
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/stageinit/stageinit/lifecycle"
	"github.com/stageinit/stageinit/machine"
	"github.com/stageinit/stageinit/stages"
	"golang.org/x/sys/unix"
)

// version is set by the Makefile with -ldflags "-X main.version=...".
var version = "dev"

const usage = "usage: init [-v|--verbose] [-V|--version] [-- COMMAND [ARG...]]\n"

// main chooses the mode from facts. The kernel never hands init a literal
// "--" (it passes the words after the first one), so "--" among init's
// arguments means a runtime or a user started it: as pid 1 of a pid
// namespace that is a container, else a supervisor. Pid 1 of the machine's
// own pid namespace is the machine's init whatever its arguments say, and
// never exits.
func main() {
	begin := time.Now()
	machine.Helper(os.Args) // the poweroff or halt child of pid 1; returns otherwise
	stages.CloseInheritedFDs()
	o := parseArgs(os.Args[1:])
	pid1 := os.Getpid() == 1
	switch {
	case pid1 && (o.command == nil || initialPidNS()):
		lifecycle.Machine(os.Args[1:], version, begin) // never returns
	case o.version:
		fmt.Println("stageinit", version)
		os.Exit(0)
	case len(o.unknown) > 0 || len(o.command) == 0:
		if len(o.unknown) > 0 {
			fmt.Fprintf(os.Stderr, "init: unknown argument %q\n", o.unknown[0])
		}
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	os.Exit(lifecycle.Supervise(o.command, o.verbose))
}

type options struct {
	verbose, version bool
	command          []string // after "--"; nil without "--"
	unknown          []string
}

// parseArgs reads init's arguments. Words it does not understand are
// returned in unknown: the machine's init ignores them (stray kernel boot
// arguments), the other modes refuse them.
func parseArgs(args []string) options {
	var o options
	for i, a := range args {
		switch a {
		case "--":
			o.command = args[i+1:]
			return o
		case "-v", "--verbose":
			o.verbose = true
		case "-V", "--version":
			o.version = true
		default:
			o.unknown = append(o.unknown, a)
		}
	}
	return o
}

// initialPidNS reports whether init runs in the machine's first pid
// namespace, whose nsfs inode is PROC_PID_INIT_INO (0xEFFFFFFC, the
// kernel's include/linux/proc_ns.h). Without /proc (an initramfs before
// its mounts) it asks for pid 2: kthreadd is pid 2 of that namespace, and
// a new container holds nobody but its init.
func initialPidNS() bool {
	if link, err := os.Readlink("/proc/self/ns/pid"); err == nil {
		return link == "pid:[4026531836]"
	}
	return unix.Kill(2, 0) != unix.ESRCH
}
