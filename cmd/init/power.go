package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/stageinit/stageinit/kexecboot"
	"github.com/stageinit/stageinit/kmsg"
	"github.com/stageinit/stageinit/stages"
	"golang.org/x/sys/unix"
)

// rebootHelperFlag starts the child that pid 1 forks for poweroff and
// halt: after those the kernel ends the calling process (reboot(2)), and
// pid 1 exiting panics the kernel.
const rebootHelperFlag = "--stageinit-reboot-helper="

// power carries out a final action. It returns only when the action failed
// (pid 1 then goes on with a soft restart).
func power(f stages.Final, log *kmsg.Logger) {
	log.Infof("%v now", f)
	log.Flush(time.Second)
	var err error
	switch f {
	case stages.Kexec:
		err = kexecboot.Reboot()
	case stages.ColdReboot:
		err = unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	case stages.HaltFinal, stages.PoweroffFinal:
		err = forkReboot(f)
		if err == nil {
			time.Sleep(30 * time.Second) // the helper ends the machine
			err = fmt.Errorf("still running 30 s after the %v request", f)
		}
	}
	log.Critf("%v failed: %v", f, err)
}

func forkReboot(f stages.Final) error {
	name := "poweroff"
	if f == stages.HaltFinal {
		name = "halt"
	}
	_, err := syscall.ForkExec("/proc/self/exe", []string{"init", rebootHelperFlag + name},
		&syscall.ProcAttr{Files: []uintptr{0, 1, 2}})
	if err != nil {
		return fmt.Errorf("fork reboot helper: %w", err)
	}
	return nil
}

// rebootHelper is the forked child: reboot(2) with the command and exit.
// It refuses to run unless its parent is pid 1 running the same binary.
func rebootHelper(name string) {
	if os.Getppid() != 1 || !sameFile("/proc/self/exe", "/proc/1/exe") {
		fmt.Fprintln(os.Stderr, "init: the reboot helper only runs as a child of pid 1")
		os.Exit(2)
	}
	cmd := unix.LINUX_REBOOT_CMD_POWER_OFF
	if name == "halt" {
		cmd = unix.LINUX_REBOOT_CMD_HALT
	}
	unix.Sync()
	err := unix.Reboot(cmd)
	fmt.Fprintf(os.Stderr, "init: reboot %s: %v\n", name, err)
	os.Exit(1)
}

func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// recoverCrash is deferred by the goroutines of this package; the others
// use kmsg.Guard, which ends in crash too.
func recoverCrash(log *kmsg.Logger) {
	if v := recover(); v != nil {
		crash(log, v, debug.Stack())
	}
}

// crash turns a panic in any of init's goroutines into a crit log line
// with the stack and, in pid 1, a cold reboot after a short delay.
func crash(log *kmsg.Logger, v any, stack []byte) {
	log.Critf("panic: %v\n%s", v, stack)
	log.Flush(2 * time.Second)
	if os.Getpid() != 1 {
		os.Exit(70)
	}
	time.Sleep(3 * time.Second)
	unix.Sync()
	err := unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	log.Critf("reboot after panic: %v", err)
	for {
		time.Sleep(time.Hour)
	}
}

// closeInheritedFDs marks every fd above 2 close-on-exec, so stages get
// only 0-2 even when init inherited more (close_range(2)).
func closeInheritedFDs() {
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
