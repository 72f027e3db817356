package stages

import (
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Action is what init does with a signal it receives.
type Action int

// The requests are ordered by strength: the strongest of a round wins.
const (
	Forward         Action = iota + 1 // as is, to the running stage's group
	Stop                              // forward, then stop the run (Run.Stop)
	RebootRequest                     // machine: stop the stage with TERM and CONT, run /etc/reboot, go on
	HaltRequest                       // machine: the same, then halt
	PoweroffRequest                   // machine: the same, then power off
)

// Shutdown is the request's word, which INIT_SHUTDOWN gives /etc/reboot:
// "poweroff" or "halt" when asked for, else "reboot": the machine goes on
// (a soft restart, a kexec or a cold reboot, as the control files say).
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

// MachineTable is pid 1's: TERM and INT (Ctrl-Alt-Del) ask for a reboot,
// USR2, PWR and 38 (SIGRTMIN+4: the kernel's ACPI tiny power button, and
// systemd's poweroff signal) for a poweroff, USR1 for a halt; HUP, QUIT,
// WINCH and EP_SIGNALS are forwarded. Requests win over EP_SIGNALS.
func MachineTable(extras []syscall.Signal) Table {
	t := table(Forward, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGWINCH)
	t.set(Forward, extras...)
	t.set(RebootRequest, syscall.SIGTERM, syscall.SIGINT)
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

// Notify routes every signal to init's own handler (catch_*.s), which
// writes the signal's number to a pipe (the self-pipe trick of C inits);
// it returns the pipe's read end, nonblocking, for ReadSignals. All
// handlers are in place when it returns, at one rt_sigaction(2) each:
// os/signal would have taken a round trip to the runtime's signal thread
// for each signal (about 40 µs; README "Design notes"). SIGCHLD too: the
// loop reaps when it comes. Signals the kernel sends count (Ctrl-Alt-Del's
// SIGINT, a hangup's SIGHUP), but the faults it raises (a nil dereference
// is a SIGSEGV) go on to the Go runtime's handler, which panics as usual.
// Left to the runtime are SIGURG (its preemption), SIGPROF and 33 (its
// per-thread system calls); SIGKILL and SIGSTOP cannot be caught.
//
// No signal keeps SIG_DFL: a fatal default signal that reaches pid 1 while
// its first thread blocks it (in a handler, for instance) is not dropped
// as for an init (sig_ignored(): "blocked signals are never ignored"), and
// another thread takes the default action, which ends init. Nor SIG_IGN:
// children would inherit it; a handler is reset to SIG_DFL by execve(2).
func Notify() (fd int, err error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return -1, fmt.Errorf("pipe2 for signals: %w: every signal has the Go runtime's default", err)
	}
	catchFD = int32(p[1])
	var old kernelSigaction
	if err := sigaction(syscall.SIGSEGV, nil, &old); err != nil {
		return -1, err
	}
	goHandler = old.handler
	handler, fault, restorer := catchPCs()
	act := kernelSigaction{flags: saSiginfo | saOnstack | saRestart | saRestorer, restorer: restorer, mask: ^uint64(0)}
	for sig := syscall.Signal(1); sig <= 64; sig++ {
		switch sig {
		case syscall.SIGKILL, syscall.SIGSTOP, syscall.SIGURG, syscall.SIGPROF, 33:
			continue
		case syscall.SIGILL, syscall.SIGTRAP, syscall.SIGBUS, syscall.SIGFPE, syscall.SIGSEGV, syscall.SIGSTKFLT,
			syscall.SIGSYS:
			act.handler = fault
		default:
			act.handler = handler
		}
		if err := sigaction(sig, &act, nil); err != nil {
			return -1, err
		}
	}
	return p[0], nil
}

// The handler's state, read by catch_*.s.
var (
	catchFD   int32   // the pipe's write end
	goHandler uintptr // the Go runtime's handler, for faults
)

func catchHandler()
func catchFault()
func catchRestorer()
func catchPCs() (handler, fault, restorer uintptr)

// rt_sigaction(2)'s sa_flags (the kernel's include/uapi/asm-generic/signal-defs.h).
const (
	saSiginfo  = 0x4
	saRestorer = 0x04000000
	saOnstack  = 0x08000000
	saRestart  = 0x10000000
)

// kernelSigaction is struct sigaction as rt_sigaction(2) takes it on Linux.
type kernelSigaction struct {
	handler, flags, restorer uintptr
	mask                     uint64
}

func sigaction(sig syscall.Signal, act, old *kernelSigaction) error {
	_, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(act)),
		uintptr(unsafe.Pointer(old)), 8, 0, 0)
	if e != 0 {
		return fmt.Errorf("rt_sigaction %d: %w", int(sig), e)
	}
	return nil
}

// ReadSignals reads what the pipe holds and sends each signal to ch. A
// full pipe (64 KiB of unread signals) drops what comes next, as the
// kernel merges a pending standard signal; the loop reaps at every
// signal, so a SIGCHLD dropped is not an exit lost.
func ReadSignals(fd int, ch chan<- syscall.Signal) {
	var b [256]byte
	for {
		n, err := unix.Read(fd, b[:])
		if n <= 0 || err != nil {
			return // EAGAIN: read to the end
		}
		for _, sig := range b[:n] {
			ch <- syscall.Signal(sig)
		}
	}
}

// Reaped reaps one child that has ended, any (wait4(-1, WNOHANG)); false
// when none has (0) or none is left (ECHILD). The loop is the one caller
// of wait4 in init (runc's signals.go, tini's reap_zombies). wait4 is
// called directly, not through the machine seam: a status word passed to
// a method of an interface escapes to the heap, one allocation per child.
func Reaped() (Status, bool) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err != unix.EINTR {
			return Status{Pid: pid, WS: ws}, err == nil && pid > 0
		}
	}
}
