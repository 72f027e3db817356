package stages

import (
	"os"
	"os/signal"
	"slices"
	"syscall"
)

// Action is what init does with a signal it receives.
type Action int

// The requests are ordered by strength: the strongest of a round wins.
const (
	Forward         Action = iota + 1 // as is, to the running stage's group
	Stop                              // forward, then stop the run (Run.Stop)
	RestartRequest                    // machine: stop the stage with TERM and CONT, run /etc/reboot, go on
	HaltRequest                       // machine: the same, then halt
	PoweroffRequest                   // machine: the same, then power off
)

// Shutdown is INIT_SHUTDOWN for /etc/reboot: "poweroff" or "halt" when
// asked for, else "reboot": the machine goes on (a soft restart, a kexec
// or a cold reboot, as the control files say).
func (a Action) Shutdown() string {
	switch a {
	case HaltRequest:
		return "halt"
	case PoweroffRequest:
		return "poweroff"
	}
	return "reboot"
}

// Table maps signals to actions; a signal not in it is logged and dropped.
type Table map[syscall.Signal]Action

// SupervisorTable is mini-init-asm's set: HUP, INT, QUIT and TERM stop
// the command, the rest of its defaults and EP_SIGNALS are forwarded.
func SupervisorTable(extras []syscall.Signal) Table {
	t := table(Forward, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGPIPE, syscall.SIGWINCH,
		syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGCONT, syscall.SIGALRM)
	t.set(Forward, extras...)
	t.set(Stop, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM)
	return t
}

// MachineTable is pid 1's: TERM and INT (Ctrl-Alt-Del) ask for a restart,
// USR2, PWR and 38 (SIGRTMIN+4: the kernel's ACPI tiny power button, and
// systemd's poweroff signal) for a poweroff, USR1 for a halt; HUP, QUIT,
// WINCH and EP_SIGNALS are forwarded. Requests win over EP_SIGNALS.
func MachineTable(extras []syscall.Signal) Table {
	t := table(Forward, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGWINCH)
	t.set(Forward, extras...)
	t.set(RestartRequest, syscall.SIGTERM, syscall.SIGINT)
	t.set(PoweroffRequest, syscall.SIGUSR2, syscall.SIGPWR, syscall.Signal(38))
	t.set(HaltRequest, syscall.SIGUSR1)
	return t
}

func table(a Action, sigs ...syscall.Signal) Table {
	t := Table{}
	t.set(a, sigs...)
	return t
}

func (t Table) set(a Action, sigs ...syscall.Signal) {
	for _, s := range sigs {
		t[s] = a
	}
}

// goFatal are the signals a Go program dies of when kill(2) sends them
// before it notified them (the runtime's sigtable: _SigKill, _SigThrow,
// _SigPanic), and SIGPIPE, which it dies of on a write to a closed pipe
// on fd 1 or 2 (a supervisor piped into `head`). The others are dropped
// until then.
var goFatal = []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGILL, syscall.SIGTRAP,
	syscall.SIGABRT, syscall.SIGBUS, syscall.SIGFPE, syscall.SIGSEGV, syscall.SIGTERM, syscall.SIGSTKFLT, syscall.SIGSYS,
	syscall.SIGPIPE}

// Notify routes every catchable signal but SIGCHLD and SIGURG to the
// returned channel (never signal.Ignore: children would inherit SIG_IGN).
// Each installation is a round trip to the runtime's signal thread (about
// 40 µs): those the Go runtime dies of are installed before Notify
// returns, and rest installs the others. The machine's init runs rest
// alongside its setup and waits for it before the first stage; the
// supervisor runs it once the command has started, off its critical path.
// Two keep only the runtime's own handler and never reach the channel:
// SIGCHLD (Reap reaps without it) and SIGURG (the runtime preempts its
// threads with it: it would wake the event loop for nothing, and is never
// forwarded).
func Notify() (sigs <-chan os.Signal, rest func()) {
	ch := make(chan os.Signal, 256)
	var first, others []os.Signal
	for sig := syscall.Signal(1); sig <= 64; sig++ {
		if slices.Contains(goFatal, sig) {
			first = append(first, sig)
		} else if sig != syscall.SIGCHLD && sig != syscall.SIGURG {
			others = append(others, sig)
		}
	}
	signal.Notify(ch, first...)
	return ch, func() { signal.Notify(ch, others...) }
}
