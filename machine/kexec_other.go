//go:build !arm64

package machine

import "os"

// kexecLoad is nil where init has no kexec_load(2) loader: x86 kernels
// have kexec_file_load.
var kexecLoad func(kernel, initrd *os.File, cmdline string) error
