package stages

import (
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// What init inherits must not reach its children: every stage starts with
// fds 0-2 only and every signal at its default disposition.

// CloseInheritedFDs marks every fd above 2 close-on-exec (close_range(2),
// or each fd of /proc/self/fd on kernels before 5.11).
func CloseInheritedFDs() {
	const closeRangeCloexec = 1 << 2
	if _, _, e := unix.Syscall(unix.SYS_CLOSE_RANGE, 3, ^uintptr(0), closeRangeCloexec); e == 0 {
		return
	}
	entries, _ := os.ReadDir("/proc/self/fd")
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
}

// kernelSigaction is struct sigaction as rt_sigaction(2) takes it on Linux.
type kernelSigaction struct {
	handler, flags, restorer uintptr
	mask                     uint64
}

// ResetIgnored puts back SIG_DFL (0) for the signals the Go runtime
// installs no handler for, even under signal.Notify: 32 and 34 (the C
// libraries' SIGCANCEL and musl's SIGSYNCCALL; the runtime's sigtable).
// Inherited as SIG_IGN (1), they would pass to every stage
// (rt_sigaction(2)). SIGPROF and 33 get the runtime's own handler (they
// never reach the signal channel), so execve(2) resets them anyway.
func ResetIgnored() {
	for _, sig := range []uintptr{32, 34} {
		var old kernelSigaction
		_, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, sig, 0, uintptr(unsafe.Pointer(&old)), 8, 0, 0)
		if e != 0 || old.handler != 1 {
			continue
		}
		dfl := kernelSigaction{}
		unix.RawSyscall6(unix.SYS_RT_SIGACTION, sig, uintptr(unsafe.Pointer(&dfl)), 0, 8, 0, 0)
	}
}
