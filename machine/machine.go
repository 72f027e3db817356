// Package machine is stageinit's one seam to the system calls that change
// the machine: kill(2), mount(2), sync(2), reboot(2) and
// kexec_file_load(2). Init uses Real; tests use a Fake, which records.
package machine

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/u-root/u-root/pkg/boot/kexec"
	"golang.org/x/sys/unix"
)

// Machine is everything init may do to the machine it runs on.
type Machine interface {
	Kill(pid int, sig syscall.Signal) error
	Mount(source, target, fstype string, flags uintptr, data string) error
	Sync()
	// Reboot is reboot(2) with a LINUX_REBOOT_CMD_* command; on success
	// it does not return.
	Reboot(cmd int) error
	// KexecLoad is kexec_file_load(2); a nil initrd loads none.
	KexecLoad(kernel, initrd *os.File, cmdline string) error
}

// Real is the machine itself.
type Real struct{}

// Kill is kill(2). kill(-1, sig) reaches every process the caller may
// signal, so Real refuses it outside pid 1 (of any pid namespace).
func (Real) Kill(pid int, sig syscall.Signal) error {
	if pid == -1 && os.Getpid() != 1 {
		return fmt.Errorf("kill -1 %v: only pid 1 may: %w", sig, unix.EPERM)
	}
	return unix.Kill(pid, sig)
}

// Mount is mount(2).
func (Real) Mount(source, target, fstype string, flags uintptr, data string) error {
	return unix.Mount(source, target, fstype, flags, data)
}

// Sync is sync(2).
func (Real) Sync() { unix.Sync() }

// KexecLoad is kexec_file_load(2), KEXEC_FILE_NO_INITRAMFS without initrd.
// A kernel built without it (ENOSYS; Debian's arm64 kernels are) gets the
// older kexec_load(2) where init can lay the segments out itself (arm64).
func (Real) KexecLoad(kernel, initrd *os.File, cmdline string) error {
	err := kexec.FileLoad(kernel, initrd, cmdline)
	if errors.Is(err, unix.ENOSYS) && kexecLoad != nil {
		if err := kexecLoad(kernel, initrd, cmdline); err != nil {
			return fmt.Errorf("kexec_file_load: ENOSYS; kexec_load: %w", err)
		}
		return nil
	}
	return err
}

// Reboot is reboot(2). After a poweroff or halt the kernel ends the
// calling process, and pid 1 exiting panics the kernel: pid 1 has a child
// (this binary again, see Helper) make those two calls, and waits.
func (Real) Reboot(cmd int) error {
	if os.Getpid() != 1 || (cmd != unix.LINUX_REBOOT_CMD_POWER_OFF && cmd != unix.LINUX_REBOOT_CMD_HALT) {
		return unix.Reboot(cmd)
	}
	arg := fmt.Sprintf("%s%#x", helperFlag, uint32(cmd))
	if _, err := syscall.ForkExec("/proc/self/exe", []string{"init", arg}, &syscall.ProcAttr{Files: []uintptr{0, 1, 2}}); err != nil {
		return fmt.Errorf("fork the reboot helper: %w", err)
	}
	time.Sleep(30 * time.Second) // the helper ends the machine
	return fmt.Errorf("reboot %#x: machine still running 30 s later", uint32(cmd))
}

const helperFlag = "--stageinit-reboot-helper="

// Helper is the child that Reboot forks in pid 1: when args ask for it,
// it calls reboot(2) and exits; otherwise it returns at once. It refuses
// unless its parent is pid 1 running the same binary.
func Helper(args []string) {
	if len(args) != 2 || len(args[1]) <= len(helperFlag) || args[1][:len(helperFlag)] != helperFlag {
		return
	}
	cmd, err := strconv.ParseUint(args[1][len(helperFlag):], 0, 32) // not fmt.Sscanf: 80 KB of binary
	if err != nil || os.Getppid() != 1 || !sameFile("/proc/self/exe", "/proc/1/exe") {
		fmt.Fprintln(os.Stderr, "init: the reboot helper only runs as a child of pid 1")
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
