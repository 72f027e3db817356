// Package stages is the group-signal/reap core of stageinit: it spawns a
// stage in its own session, forwards signals to its process group, reaps
// every zombie, escalates to SIGKILL after a grace period and restarts a
// crashed stage when asked to.
package stages

import (
	"strconv"
	"time"

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

// Reap is the one owner of wait4(-1) in the process (runc signals.go,
// containerd's reaper), for the life of the process: it blocks in
// wait4(-1, 0) and sends every status to the event loop, which alone
// knows which pid is a stage's leader. No SIGCHLD is involved: a signal
// costs a wake-up of the Go runtime's signal goroutine as well, about
// twice the CPU per reaped child. With no child at all (ECHILD) it waits
// for a kick (the loop started one) or a second (a child made elsewhere,
// such as the poweroff helper).
//
// wait4 is called directly, not through the machine seam: a status word
// passed to a method of an interface escapes to the heap, one allocation
// per reaped child.
func Reap(out chan<- Status, kick <-chan struct{}) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		switch {
		case err == unix.EINTR:
		case err == unix.ECHILD:
			select {
			case <-kick:
			case <-time.After(time.Second):
			}
		case err != nil || pid <= 0:
			time.Sleep(10 * time.Millisecond) // not seen in practice; never spin
		default:
			out <- Status{Pid: pid, WS: ws}
		}
	}
}
