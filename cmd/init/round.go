package main

import (
	"os"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/stageinit/stageinit/console"
	"github.com/stageinit/stageinit/kexecboot"
	"github.com/stageinit/stageinit/kmsg"
	"github.com/stageinit/stageinit/machine"
	"github.com/stageinit/stageinit/stages"
	"golang.org/x/sys/unix"
)

// lifecycle is the machine's: the boot stage, /etc/reboot, the final action.
type lifecycle struct {
	m        machine.Machine
	log      *kmsg.Logger
	streams  *console.Streams
	runner   *stages.Runner
	down     *stages.Teardown
	cgroups  *stages.Cgroups // nil: stages run without their own cgroups
	boot     stages.Spec     // /etc/boot, or the microVM command
	reboot   stages.Spec     // /etc/reboot
	microVM  bool
	root     string // prefix of /reboot, /poweroff and /kernel: "" on a node
	kexecErr string // INIT_KEXEC_ERROR for the next boot stage
	dog      *dog
	kexecDog int // seconds the watchdog counts through a kexec
	quick    int // rounds in a row whose boot stage failed or ended within 1 s
}

// final is what the machine does after /etc/reboot.
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
// or /poweroff), /reboot, /kernel, else a soft restart. A microVM powers
// off (or halts, when asked to).
func decide(req stages.Action, exists func(string) bool, microVM bool) final {
	switch {
	case req == stages.PoweroffRequest || exists("/poweroff"):
		return powerOff
	case req == stages.HaltRequest:
		return halt
	case microVM:
		return powerOff
	case exists("/reboot"):
		return coldReboot
	case exists("/kernel"):
		return kexecJump
	}
	return softRestart
}

// round runs the boot stage and /etc/reboot and carries out the final
// action; it returns the action, which was a soft restart unless carrying
// it out failed (or the machine is a test's fake).
func (l *lifecycle) round() final {
	boot := l.boot
	if l.kexecErr != "" {
		boot.Env = append(slices.Clone(boot.Env), "INIT_KEXEC_ERROR="+l.kexecErr)
		l.kexecErr = ""
	}
	l.runner.Reset()
	if l.runner.Requested() != 0 { // a request made before the boot stage stops it at once
		l.runner.Stop(syscall.SIGTERM, syscall.SIGCONT)
	}
	res := l.stage(boot)
	if res.Err != nil || res.Duration < time.Second {
		l.quick++
	} else {
		l.quick = 0
	}
	rb := l.reboot
	rb.Env = append(slices.Clone(rb.Env), "INIT_BOOT_STATUS="+strconv.Itoa(res.Code(128)),
		"INIT_SHUTDOWN="+l.runner.Requested().Shutdown())
	if _, err := os.Lstat(rb.Argv[0]); !l.microVM || err == nil {
		l.runner.Reset() // it runs because of the request: only a new one stops it
		l.stage(rb)
	}
	f := decide(l.runner.Requested(), func(p string) bool { _, err := os.Lstat(l.root + p); return err == nil }, l.microVM)
	l.log.Infof("final action: %v", f)
	if f == kexecJump && !l.loadKernel() {
		f = softRestart
	}
	l.down.Run()
	if f != softRestart {
		l.carryOut(f)
	}
	l.runner.ClearRequest()
	return f
}

// loadKernel loads /kernel before anything is torn down. On failure it
// renames /kernel out of the way and keeps the error for the next boot
// stage (INIT_KEXEC_ERROR): the node stays up on the running kernel.
func (l *lifecycle) loadKernel() bool {
	begin, p := time.Now(), kexecboot.At(l.root)
	panicAdded, err := kexecboot.Load(l.m, p)
	if err != nil {
		l.log.Errf("%v; soft restart instead", err)
		if err := kexecboot.Failed(p); err != nil {
			l.log.Errf("%v", err)
		}
		l.kexecErr = err.Error()
		return false
	}
	l.log.Infof("kexec: loaded %s in %v", p.Kernel, time.Since(begin).Round(time.Millisecond))
	if panicAdded {
		l.log.Infof("kexec: no panic= on the new command line: added panic=10, so that a new kernel that panics reboots")
	}
	return true
}

// carryOut hands the watchdog over (kexec) or disarms it (halt, poweroff;
// a cold reboot leaves it to the firmware) and calls reboot(2). It returns
// only when that failed: the round goes on as a soft restart.
func (l *lifecycle) carryOut(f final) {
	switch f {
	case kexecJump:
		l.dog.handOver(l.kexecDog)
	case halt, powerOff:
		l.dog.disarm()
	}
	l.log.Infof("%v now", f)
	l.log.Flush(time.Second)
	if err := l.m.Reboot(rebootCmd[f]); err != nil {
		l.log.Critf("%v failed: %v", f, err)
	}
	l.dog.resume()
}

// pause is the wait before the next round: 1 s, or, after boot stages that
// could not start or ended within 1 s, 1, 2, 4 ... up to 60 s, so that a
// node that lost its /etc/boot does not spin.
func (l *lifecycle) pause() time.Duration {
	d := time.Second << min(max(l.quick-1, 0), 6)
	if l.quick > 1 {
		d = min(d, time.Minute)
		l.log.Warnf("boot stage failed or ended within 1 s %d rounds in a row: next round in %v", l.quick, d)
	}
	return d
}

// stage runs one stage to its end, with its standard streams and cgroup,
// and logs its start and end.
func (l *lifecycle) stage(s stages.Spec) stages.Result {
	files, started, done, err := l.streams.Stage(s.Name, l.log)
	if err != nil {
		l.log.Errf("%s: no standard streams: %v", s.Name, err)
	}
	s.Files = files
	s.Started = func(pid int) {
		l.log.Infof("%s: started %s, pid %d", s.Name, s.Argv[0], pid)
		started(pid)
	}
	if l.cgroups != nil {
		if s.Cgroup, err = l.cgroups.Stage(s.Name); err != nil {
			l.log.Warnf("%s: runs without its own cgroup: %v", s.Name, err)
		}
		defer s.Cgroup.Close()
	}
	res := l.runner.Run(s)
	done()
	l.dog.look() // the stage may have loaded a watchdog driver
	if res.Err != nil {
		l.log.Errf("%s: %v: treated as exit %d", s.Name, res.Err, res.Code(128))
		return res
	}
	restarts := ""
	if res.Restarts > 0 {
		restarts = ", " + strconv.Itoa(res.Restarts) + " restarts"
	}
	l.log.Infof("%s: %s after %v%s%s", s.Name, exitText(res.Status.WS), res.Duration.Round(time.Millisecond), restarts, s.Cgroup.Stats())
	return res
}

// crash turns a panic in any of init's goroutines into a crit log line
// with the stack; pid 1 then reboots (cold) after a short delay, since it
// must not exit.
func crash(log *kmsg.Logger, v any, stack []byte) {
	log.Critf("panic: %v\n%s", v, stack)
	log.Flush(2 * time.Second)
	if os.Getpid() != 1 {
		os.Exit(70)
	}
	time.Sleep(3 * time.Second)
	m := machine.Real{}
	m.Sync()
	log.Critf("reboot after panic: %v", m.Reboot(unix.LINUX_REBOOT_CMD_RESTART))
	for {
		time.Sleep(time.Hour)
	}
}
