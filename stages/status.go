// Package stages is the group-signal/reap core of stageinit: it spawns a
// stage in its own session, forwards signals to its process group, reaps
// every zombie, escalates to SIGKILL after a grace period and restarts a
// crashed stage when asked to.
package stages

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// Status is how a reaped process ended, as wait4(2) reported it.
type Status struct {
	Pid int
	WS  unix.WaitStatus
}

// Code maps the status to an exit code: the exit status, or base+signal
// when the process was killed by a signal (mini-init-asm's EP_EXIT_CODE_BASE).
func (s Status) Code(base int) int {
	if s.WS.Signaled() {
		return base + int(s.WS.Signal())
	}
	return s.WS.ExitStatus()
}

// Text renders the status for the log: "exited 3", "killed by ...".
func (s Status) Text() string {
	if s.WS.Signaled() {
		return "killed by " + s.WS.Signal().String()
	}
	return "exited " + strconv.Itoa(s.WS.ExitStatus())
}
