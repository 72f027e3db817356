package stages

import (
	"fmt"
	"os"
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

// Notify routes every signal a process may send init to the returned
// channel, SIGCHLD and SIGURG excepted, with a handler of init's own
// (catch_*.s): it writes the signal's number to a pipe, and a goroutine
// reads the pipe into the channel (the self-pipe trick of C inits). All
// handlers are in place when Notify returns, at one rt_sigaction(2) each:
// os/signal would have taken a round trip to the runtime's signal thread
// for each signal (about 40 µs; init's start-up, README "Design notes").
// Signals the kernel sends count too (Ctrl-Alt-Del's SIGINT, a hangup's
// SIGHUP), but the faults it raises (a nil dereference is a SIGSEGV) go on
// to the Go runtime's handler, which panics as usual. Left to the runtime are
// SIGCHLD (Reap reaps without it), SIGURG (its preemption), SIGPROF, and
// 32 to 34, which it keeps for itself or installs no handler for (see
// ResetIgnored). Never SIG_IGN: children would inherit it; a handler is
// reset to SIG_DFL by execve(2).
//
// The signals wait in the pipe until relay runs (go relay()): init starts
// it once its first stage has, since the goroutine and the poller it
// needs cost a start-up more than the handlers (about 0.2 ms).
func Notify() (sigs <-chan os.Signal, relay func(), err error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, func() {}, fmt.Errorf("pipe2 for signals: %w: every signal has the Go runtime's default", err)
	}
	catchFD = int32(p[1])
	var old kernelSigaction
	if err := sigaction(syscall.SIGSEGV, nil, &old); err != nil {
		return nil, func() {}, err
	}
	goHandler = old.handler
	handler, fault, restorer := catchPCs()
	act := kernelSigaction{flags: saSiginfo | saOnstack | saRestart | saRestorer, restorer: restorer, mask: ^uint64(0)}
	for sig := syscall.Signal(1); sig <= 64; sig++ {
		switch sig {
		case syscall.SIGKILL, syscall.SIGSTOP, syscall.SIGCHLD, syscall.SIGURG, syscall.SIGPROF, 32, 33, 34:
			continue
		case syscall.SIGILL, syscall.SIGTRAP, syscall.SIGBUS, syscall.SIGFPE, syscall.SIGSEGV, syscall.SIGSTKFLT, syscall.SIGSYS:
			act.handler = fault
		default:
			act.handler = handler
		}
		if err := sigaction(sig, &act, nil); err != nil {
			return nil, func() {}, err
		}
	}
	ch := make(chan os.Signal, 256)
	return ch, func() { relaySignals(os.NewFile(uintptr(p[0]), "signal pipe"), ch) }, nil
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

func sigaction(sig syscall.Signal, act, old *kernelSigaction) error {
	_, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(act)), uintptr(unsafe.Pointer(old)), 8, 0, 0)
	if e != 0 {
		return fmt.Errorf("rt_sigaction %d: %w", int(sig), e)
	}
	return nil
}

// relaySignals turns the pipe's bytes into signals on ch. A full channel
// stops it, and then a full pipe drops signals (the handler's write fails
// with EAGAIN), as the kernel merges a pending standard signal.
func relaySignals(pipe *os.File, ch chan<- os.Signal) {
	var b [64]byte
	for {
		n, err := pipe.Read(b[:])
		if err != nil {
			panic(fmt.Sprintf("read the signal pipe: %v", err)) // a pipe init holds both ends of never fails
		}
		for _, sig := range b[:n] {
			ch <- syscall.Signal(sig)
		}
	}
}
