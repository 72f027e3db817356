package lifecycle

import (
	"os"
	"time"

	"github.com/stageinit/stageinit/kexecboot"
	"github.com/stageinit/stageinit/stages"
	"golang.org/x/sys/unix"
)

// final is what the machine does after the reboot stage.
type final int

const (
	softRestart final = iota // teardown, 1 s, the boot stage again
	kexecJump                // load /kernel, teardown, reboot(RB_KEXEC)
	coldReboot               // teardown, reboot(RB_AUTOBOOT): firmware, PXE
	halt                     // teardown, reboot(RB_HALT_SYSTEM)
	powerOff                 // teardown, reboot(RB_POWER_OFF)
)

var finalNames = [...]string{"soft restart", "kexec", "cold reboot", "halt", "poweroff"}

func (f final) String() string { return finalNames[f] }

var rebootCmd = [...]int{kexecJump: unix.LINUX_REBOOT_CMD_KEXEC, coldReboot: unix.LINUX_REBOOT_CMD_RESTART,
	halt: unix.LINUX_REBOOT_CMD_HALT, powerOff: unix.LINUX_REBOOT_CMD_POWER_OFF}

// decide picks the final action from the strongest request of the round
// and the control files, first match wins: poweroff or halt (asked for,
// or /poweroff), /reboot (a cold reboot), /kernel (a kexec), else a soft
// restart. A microVM powers off (or halts, when asked to).
func (n *node) decide() final {
	switch {
	case n.req == stages.PoweroffRequest || exists(n.files.poweroff):
		return powerOff
	case n.req == stages.HaltRequest:
		return halt
	case n.microVM && n.vmExit == "reboot":
		return coldReboot
	case n.microVM:
		return powerOff
	case exists(n.files.reboot):
		return coldReboot
	case exists(n.files.kexec.Kernel):
		return kexecJump
	}
	return softRestart
}

// files are where a stage leaves its wishes for the final action, and
// pstore's pmsg, which keeps init's last line across a warm reset (README
// "Files"); the rescue shell, and where its terminal is found.
type files struct {
	poweroff, reboot, pmsg string
	kexec                  kexecboot.Paths
	rescue, sys, dev       string
}

var nodeFiles = files{poweroff: "/poweroff", reboot: "/reboot", pmsg: "/dev/pmsg0",
	kexec: kexecboot.Paths{Kernel: "/kernel", Initrd: "/kernel.initrd", Cmdline: "/kernel.cmdline",
		ProcCmdline: "/proc/cmdline", Keys: "/etc/stageinit"},
	rescue: "/etc/rescue", sys: "/sys", dev: "/dev"}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// carryOut hands the watchdog over (kexec) or disarms it (halt, poweroff;
// a cold reboot leaves it to the firmware) and calls reboot(2). A poweroff
// or halt requested since the final action was chosen (a BMC's soft-off
// during a kexec load) wins. When reboot(2) fails, or for a soft restart,
// the next round follows the pause.
func (n *node) carryOut() {
	if f := n.decide(); f == powerOff || f == halt { // asked for while the kernel loaded or teardown ran
		n.final = f
	}
	line := n.hist.shutdown(n.final, n.req)
	n.log.Infof("%s", line)
	if exists(n.files.pmsg) {
		n.m.WriteFile(n.files.pmsg, "init: "+line+"\n")
	}
	if f := n.final; f != softRestart {
		switch f {
		case kexecJump:
			n.dog.HandOver(n.allowance)
		case halt, powerOff:
			n.dog.Disarm()
		}
		if f == powerOff && n.vmExitPort > 0 { // QEMU's isa-debug-exit ends with (byte << 1) | 1
			n.log.Infof("isa-debug-exit: %v", n.m.OutByte(n.vmExitPort, byte(min(n.hist.status, 127))))
		}
		n.log.Infof("%v now", f)
		n.log.Flush(time.Second)
		if err := n.m.Reboot(rebootCmd[f]); err != nil {
			n.log.Critf("%v failed: %v", f, err)
		}
		n.dog.Resume()
		n.at[petTimer] = n.dog.Due
	}
	n.req, n.hist.who, n.hist.cut, n.phase, n.pre = 0, "", "", pausing, preload{}
	n.at[pauseTimer] = time.Now().Add(n.pause())
}

// pause is the wait before the next round: 1 s, or, after boot stages that
// could not start or ended within 1 s, 1, 2, 4 ... up to 60 s, so that a
// node that lost its /etc/boot does not spin.
func (n *node) pause() time.Duration {
	if n.rescue == "onfail" && n.quick >= rescueAfter {
		n.log.Warnf("boot stage failed or ended within 1 s %d rounds in a row: the rescue shell comes", n.quick)
		return 0
	}
	d := time.Second << min(max(n.quick-1, 0), 6)
	if n.quick > 1 {
		d = min(d, time.Minute)
		n.log.Warnf("boot stage failed or ended within 1 s %d rounds in a row: next round in %v", n.quick, d)
	}
	return d
}
