package main

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// kernelSigaction is struct sigaction as rt_sigaction(2) takes it on Linux.
type kernelSigaction struct {
	handler, flags, restorer uintptr
	mask                     uint64
}

// unmanaged are the signals the Go runtime installs no handler for, even
// under signal.Notify: SIGPROF, and 32 and 33 (reserved for the C library).
// An ignored disposition of these would pass to every stage.
var unmanaged = []uintptr{uintptr(unix.SIGPROF), 32, 33}

// resetIgnored puts back SIG_DFL for the unmanaged signals that init
// inherited ignored, so stages start with every disposition at its default
// (rt_sigaction(2); SIG_IGN is 1, SIG_DFL 0).
func resetIgnored() {
	for _, sig := range unmanaged {
		var old kernelSigaction
		_, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, sig, 0, uintptr(unsafe.Pointer(&old)), 8, 0, 0)
		if e != 0 || old.handler != 1 {
			continue
		}
		dfl := kernelSigaction{}
		unix.RawSyscall6(unix.SYS_RT_SIGACTION, sig, uintptr(unsafe.Pointer(&dfl)), 0, 8, 0, 0)
	}
}
