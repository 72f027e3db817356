// Package kexecboot boots the kernel at /kernel in place of a cold reboot
// (SPEC 2.5 item 3): kexec_file_load(2), then reboot(2) with RB_KEXEC.
// The load happens before teardown, so a bad kernel never strands a node.
package kexecboot

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/u-root/u-root/pkg/boot/kexec"
	"golang.org/x/sys/unix"
)

// Seams: the two system calls. Tests replace them; nothing outside a VM may
// reach the real kexec_file_load (SPEC section 7).
var (
	FileLoad = kexec.FileLoad
	Reboot   = kexec.Reboot
)

// Paths are the files Load reads.
type Paths struct {
	Kernel, Initrd, Cmdline, ProcCmdline string
}

// Default is the production layout.
var Default = Paths{"/kernel", "/kernel.initrd", "/kernel.cmdline", "/proc/cmdline"}

// MaxCmdline is the longest command line the kernel takes: x86's
// COMMAND_LINE_SIZE is 2048 bytes including the terminating NUL.
const MaxCmdline = 2047

// Load loads p.Kernel with p.Initrd (if present) and the command line of
// p.Cmdline (if present) or the running kernel's. It does not reboot.
func Load(p Paths) error {
	kernel, err := openRegular(p.Kernel)
	if err != nil {
		return err
	}
	defer kernel.Close()
	var initrd *os.File
	if _, err := os.Lstat(p.Initrd); err == nil {
		if initrd, err = openRegular(p.Initrd); err != nil {
			return err
		}
		defer initrd.Close()
	}
	cmdline, err := Cmdline(p)
	if err != nil {
		return err
	}
	if err := FileLoad(kernel, initrd, cmdline); err != nil {
		return fmt.Errorf("kexec_file_load %s: %w (%s)", p.Kernel, errno(err), Explain(err))
	}
	return nil
}

// openRegular opens path without blocking (a FIFO would block open(2)) and
// refuses anything but a non-empty regular file.
func openRegular(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("fstat %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		f.Close()
		return nil, fmt.Errorf("open %s: not a regular file: %w", path, unix.EINVAL)
	}
	if st.Size == 0 {
		f.Close()
		return nil, fmt.Errorf("open %s: empty file: %w", path, unix.EINVAL)
	}
	return f, nil
}

// Cmdline reads the command line for the new kernel: p.Cmdline without its
// trailing newline, or else the running kernel's p.ProcCmdline.
func Cmdline(p Paths) (string, error) {
	raw, err := os.ReadFile(p.Cmdline)
	src := p.Cmdline
	if errors.Is(err, os.ErrNotExist) {
		raw, err = os.ReadFile(p.ProcCmdline)
		src = p.ProcCmdline
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", src, err)
	}
	return ValidCmdline(raw, src)
}

// ValidCmdline strips trailing newlines and refuses a NUL byte or a line
// longer than MaxCmdline, before the kernel sees it.
func ValidCmdline(raw []byte, src string) (string, error) {
	raw = bytes.TrimRight(raw, "\n")
	if i := bytes.IndexByte(raw, 0); i >= 0 {
		return "", fmt.Errorf("%s: NUL byte at offset %d: %w", src, i, unix.EINVAL)
	}
	if len(raw) > MaxCmdline {
		return "", fmt.Errorf("%s: %d bytes, more than the kernel's %d: %w", src, len(raw), MaxCmdline, unix.E2BIG)
	}
	return string(raw), nil
}

// Explain gives the meaning of kexec_file_load's errno (kexec_file_load(2)).
func Explain(err error) string {
	switch errno(err) {
	case unix.ENOEXEC:
		return "not a bootable kernel image, or truncated"
	case unix.EINVAL:
		return "bad command line or empty file"
	case unix.EPERM:
		return "not permitted: kernel lockdown, missing CAP_SYS_BOOT or a user namespace"
	case unix.EKEYREJECTED:
		return "signature check failed"
	case unix.ENOSYS:
		return "kernel built without CONFIG_KEXEC_FILE"
	case unix.EBUSY:
		return "another kexec load is in progress"
	case unix.ENOMEM:
		return "not enough memory to stage the kernel"
	}
	return "unexpected error"
}

func errno(err error) error {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return err
}

// Failed renames the kernel to Kernel+".failed" so the next round does not
// try it again; the node stays up on the running kernel.
func Failed(p Paths) error {
	if err := os.Rename(p.Kernel, p.Kernel+".failed"); err != nil {
		return fmt.Errorf("rename %s %s.failed: %w", p.Kernel, p.Kernel, err)
	}
	return nil
}
