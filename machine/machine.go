// Package machine is stageinit's one seam to the system calls that change
// the machine: fork/exec of a stage, kill(2), wait(2) without reaping,
// mount(2), sync(2), reboot(2), kexec_file_load(2) and kexec_load(2),
// the hardware watchdog's ioctls, writes to cgroup and sysctl files, and
// unlink(2) of a pstore record or of /init.
// Init uses Real; tests use machinetest.Fake, which records.
package machine

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/u-root/u-root/pkg/watchdog"
	"golang.org/x/sys/unix"
)

// Machine is everything init may do to the machine it runs on.
type Machine interface {
	// Spawn is fork(2) and execve(2) of path (syscall.ForkExec).
	Spawn(path string, argv []string, attr *syscall.ProcAttr) (pid int, err error)
	Kill(pid int, sig syscall.Signal) error
	// Children reports whether the caller has a child, running or a
	// zombie (waitid(2) WNOHANG|WNOWAIT: nothing is reaped).
	Children() bool
	Mount(source, target, fstype string, flags uintptr, data string) error
	Sync()
	// Reboot is reboot(2) with a LINUX_REBOOT_CMD_* command; on success
	// it does not return, except for LINUX_REBOOT_CMD_CAD_OFF.
	Reboot(cmd int) error
	// KexecFileLoad is kexec_file_load(2); a nil initrd loads none.
	KexecFileLoad(kernel, initrd *os.File, cmdline string) error
	// KexecLoad is kexec_load(2), where init lays the segments out itself
	// (arm64 Images); ENOSYS elsewhere.
	KexecLoad(kernel, initrd *os.File, cmdline string) error
	// WriteFile writes data to an existing file (a cgroup or sysctl
	// file: never created, cgroupfs refuses O_CREAT).
	WriteFile(path, data string) error
	// OutByte writes b to an I/O port (pwrite(2) on /dev/port): QEMU's
	// isa-debug-exit ends the VM with it.
	OutByte(port int, b byte) error
	// Remove is unlink(2): a pstore record (which erases it from the
	// backend's storage) or /init.
	Remove(path string) error
	OpenWatchdog(dev string) (WatchdogDevice, error)
}

// WatchdogDevice is an open hardware watchdog device (the kernel's
// Documentation/watchdog/watchdog-api.rst).
type WatchdogDevice interface {
	KeepAlive() error
	SetTimeout(secs int) error // WDIOC_SETTIMEOUT
	Timeout() (time.Duration, error)
	Close() error      // it keeps counting
	MagicClose() error // "V", then close: it stops
	// CardReset reports whether WDIOC_GETBOOTSTATUS says the watchdog
	// reset the machine (WDIOF_CARDRESET).
	CardReset() bool
}

// Real is the machine itself.
type Real struct{}

func (Real) Spawn(path string, argv []string, attr *syscall.ProcAttr) (int, error) {
	return syscall.ForkExec(path, argv, attr)
}

// Kill is kill(2). kill(-1, sig) reaches every process the caller may
// signal, so Real refuses it outside pid 1 (of any pid namespace).
func (Real) Kill(pid int, sig syscall.Signal) error {
	if pid == -1 && os.Getpid() != 1 {
		return fmt.Errorf("kill -1 %v: only pid 1 may: %w", sig, unix.EPERM)
	}
	return unix.Kill(pid, sig)
}

func (Real) Children() bool {
	var info unix.Siginfo
	return unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil) != unix.ECHILD
}

func (Real) Mount(source, target, fstype string, flags uintptr, data string) error {
	return rawMount(source, target, fstype, flags, data)
}

func (Real) Sync() { unix.Sync() }

// KexecFileLoad is kexec_file_load(2), KEXEC_FILE_NO_INITRAMFS without an
// initrd: the one system call u-root's kexec.FileLoad makes, called here
// directly so that amd64's binary does without the rest of that package
// (net, lz4, DWARF; README, "Size and dependencies").
func (Real) KexecFileLoad(kernel, initrd *os.File, cmdline string) error {
	fd, flags := 0, 0
	if initrd != nil {
		fd = int(initrd.Fd())
	} else {
		flags = unix.KEXEC_FILE_NO_INITRAMFS
	}
	return unix.KexecFileLoad(int(kernel.Fd()), fd, cmdline, flags)
}

func (Real) KexecLoad(kernel, initrd *os.File, cmdline string) error {
	return kexecLoad(kernel, initrd, cmdline)
}

// WriteFile is open(2), write(2) and close(2), raw (raw.go): os.OpenFile
// would add the poller's fcntl(2) and epoll_ctl(2) calls.
func (Real) WriteFile(path, data string) error {
	return writeFile(path, unix.O_WRONLY, data)
}

func (Real) Remove(path string) error { return os.Remove(path) }

func (Real) OutByte(port int, b byte) error {
	f, err := os.OpenFile("/dev/port", os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteAt([]byte{b}, int64(port))
		f.Close()
	}
	return err
}

// ReadFile reads at most limit bytes of path with open(2), read(2) and
// close(2), raw (see WriteFile). It reads facts (/proc, /sys, init's
// configuration) and changes nothing, so it is not a Machine method.
func ReadFile(path string, limit int) ([]byte, error) {
	fd, err := rawOpen(path, unix.O_RDONLY, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer rawClose(fd)
	b := make([]byte, 0, min(limit, 4096))
	for len(b) < limit {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := rawRW(unix.SYS_READ, fd, b[len(b):min(cap(b), limit)])
		if err != nil {
			return b, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			break
		}
		b = b[:len(b)+n]
	}
	return b, nil
}

func (Real) OpenWatchdog(dev string) (WatchdogDevice, error) {
	w, err := watchdog.Open(dev)
	if err != nil {
		return nil, err
	}
	return realWatchdog{w}, nil
}

type realWatchdog struct{ *watchdog.Watchdog }

func (w realWatchdog) CardReset() bool {
	st, err := w.BootStatus()
	return err == nil && st&unix.WDIOF_CARDRESET != 0
}

// SetTimeout is WDIOC_SETTIMEOUT with an int of seconds. (u-root's
// SetTimeout hands the kernel a time.Duration, nanoseconds, instead.)
func (w realWatchdog) SetTimeout(secs int) error {
	if err := unix.IoctlSetPointerInt(int(w.Fd()), unix.WDIOC_SETTIMEOUT, secs); err != nil {
		return fmt.Errorf("ioctl WDIOC_SETTIMEOUT %d: %w", secs, err)
	}
	return nil
}

// Reboot is reboot(2). After a poweroff or halt the kernel ends the
// calling process, and pid 1 exiting panics the kernel: pid 1 has a child
// (this binary again, see Helper) make those two calls, and waits.
func (Real) Reboot(cmd int) error {
	if os.Getpid() != 1 || (cmd != unix.LINUX_REBOOT_CMD_POWER_OFF && cmd != unix.LINUX_REBOOT_CMD_HALT) {
		return unix.Reboot(cmd)
	}
	arg := fmt.Sprintf("%s%#x", helperFlag, uint32(cmd))
	attr := &syscall.ProcAttr{Files: []uintptr{0, 1, 2}}
	if _, err := syscall.ForkExec("/proc/self/exe", []string{"init", arg}, attr); err != nil {
		return fmt.Errorf("fork the poweroff helper: %w", err)
	}
	time.Sleep(30 * time.Second) // the helper ends the machine
	return fmt.Errorf("reboot %#x: machine still running 30 s later", uint32(cmd))
}

const helperFlag = "--stageinit-poweroff-helper="

// Helper is the child that Reboot forks in pid 1 for a poweroff or a
// halt: when args ask for it, it calls reboot(2) and exits; otherwise it
// returns at once. It refuses unless its parent is pid 1 running the same
// binary.
func Helper(args []string) {
	if len(args) != 2 || len(args[1]) <= len(helperFlag) || args[1][:len(helperFlag)] != helperFlag {
		return
	}
	cmd, err := strconv.ParseUint(args[1][len(helperFlag):], 0, 32) // not fmt.Sscanf: 80 KB of binary
	if err != nil || os.Getppid() != 1 || !sameFile("/proc/self/exe", "/proc/1/exe") {
		fmt.Fprintln(os.Stderr, "init: the poweroff helper only runs as a child of pid 1")
		os.Exit(2)
	}
	unix.Sync()
	err = unix.Reboot(int(int32(cmd)))
	fmt.Fprintf(os.Stderr, "init: reboot %#x: %v\n", cmd, err)
	os.Exit(1)
}

func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}
