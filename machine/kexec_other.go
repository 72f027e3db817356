//go:build !arm64

package machine

import (
	"os"

	"golang.org/x/sys/unix"
)

// kexecLoad has no loader here: x86 kernels have kexec_file_load(2).
func kexecLoad(kernel, initrd *os.File, cmdline string) error { return unix.ENOSYS }
