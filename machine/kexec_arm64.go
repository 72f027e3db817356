package machine

import (
	"os"

	"github.com/u-root/u-root/pkg/boot/linux"
)

// kexecLoad is kexec_load(2) of an arm64 Image: u-root lays out the
// kernel, the initrd, the running device tree (/sys/firmware/fdt) with the
// new command line and initrd in /chosen, and a trampoline to the kernel.
func kexecLoad(kernel, initrd *os.File, cmdline string) error {
	return linux.KexecLoad(kernel, initrd, cmdline, nil, nil)
}
