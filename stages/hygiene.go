package stages

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// What init inherits must not reach its children: every stage starts with
// fds 0-2 only (and every signal at its default disposition: Notify).

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
