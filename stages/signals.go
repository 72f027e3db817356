package stages

import (
	"os"
	"os/signal"
	"syscall"
)

// Action is what init does with a signal it receives.
type Action int

const (
	Ignore   Action = iota // logged at debug
	Forward                // sent as-is to the stage's process group
	Soft                   // supervisor: forwarded, arms grace, no more restarts
	Reboot                 // pid 1: reboot request
	Halt                   // pid 1: halt request
	Poweroff               // pid 1: poweroff request (strongest)
)

// Table maps signals to actions; signals not in it are ignored.
type Table map[syscall.Signal]Action

// SupervisorTable is SPEC section 5 (mini-init-asm parity) plus extras.
func SupervisorTable(extras []syscall.Signal) Table {
	t := Table{}
	for _, s := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGPIPE,
		syscall.SIGWINCH, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGCONT, syscall.SIGALRM} {
		t[s] = Forward
	}
	t.add(extras)
	for _, s := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM} {
		t[s] = Soft
	}
	return t
}

// PID1Table is SPEC section 2.3. Requests win over EP_SIGNALS extras.
func PID1Table(extras []syscall.Signal) Table {
	t := Table{syscall.SIGHUP: Forward, syscall.SIGQUIT: Forward,
		syscall.SIGWINCH: Forward}
	t.add(extras)
	t[syscall.SIGTERM], t[syscall.SIGINT] = Reboot, Reboot
	t[syscall.SIGUSR2], t[syscall.SIGPWR] = Poweroff, Poweroff
	t[syscall.SIGUSR1] = Halt
	return t
}

// add makes extras forwarded, except SIGCHLD: init never asks for it
// (Reaper.Run blocks in wait4 instead).
func (t Table) add(extras []syscall.Signal) {
	for _, s := range extras {
		t[s] = Forward
	}
	delete(t, syscall.SIGCHLD)
}

// Lookup returns the action for sig. SIGURG is never forwarded: the Go
// runtime sends it to its own threads for preemption.
func (t Table) Lookup(sig syscall.Signal) Action {
	if sig == syscall.SIGURG {
		return Ignore
	}
	return t[sig]
}

// goFatal are the signals the Go runtime dies of, when sent by kill(2)
// and not notified (its sigtable: _SigKill, _SigThrow, _SigPanic).
var goFatal = []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGILL,
	syscall.SIGTRAP, syscall.SIGABRT, syscall.SIGBUS, syscall.SIGFPE, syscall.SIGSEGV, syscall.SIGPIPE,
	syscall.SIGALRM, syscall.SIGTERM, syscall.SIGSTKFLT, syscall.SIGXCPU, syscall.SIGXFSZ,
	syscall.SIGVTALRM, syscall.SIGIO, syscall.SIGPWR, syscall.SIGSYS}

// Notify routes every catchable signal to a channel (never signal.Ignore:
// no signal can stop or end init). Each signal costs a round trip to the
// runtime's signal thread, about 40 µs: with background, only the table's
// signals and those Go would die of are installed before Notify returns,
// the others by a goroutine (supervisor start-up); without, all of them
// (pid 1).
func Notify(t Table, background bool) <-chan os.Signal {
	ch := make(chan os.Signal, 256)
	if !background {
		signal.Notify(ch, catchable(nil)...)
		return ch
	}
	var first []os.Signal
	for _, s := range goFatal {
		first = append(first, s)
	}
	for s := range t {
		first = append(first, s)
	}
	signal.Notify(ch, first...)
	go signal.Notify(ch, catchable(t)...)
	return ch
}

// catchable is every signal from 1 to 64 but SIGCHLD (Reaper.Run waits
// for children without it; the Go runtime's own handler, not SIG_IGN,
// stays installed, so children still start with the default) and those
// already in t.
func catchable(t Table) []os.Signal {
	var sigs []os.Signal
	for i := 1; i <= 64; i++ {
		s := syscall.Signal(i)
		if _, done := t[s]; !done && s != syscall.SIGCHLD {
			sigs = append(sigs, s)
		}
	}
	return sigs
}
