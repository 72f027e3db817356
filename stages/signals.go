package stages

import (
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/stageinit/stageinit/kmsg"
)

// Action is what init does with a signal it receives.
type Action int

const (
	Forward         Action = iota + 1 // as is, to the running stage's group
	Stop                              // forward, then stop the run (Runner.Stop)
	RebootRequest                     // machine: stop the stage with TERM and CONT, then reboot
	HaltRequest                       // machine: the same, then halt
	PoweroffRequest                   // machine: the same, then power off (the strongest)
)

// Shutdown is INIT_SHUTDOWN for /etc/reboot: what the strongest request of
// the round asked for, "reboot" when there was none.
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
// USR2 and PWR for a poweroff, USR1 for a halt; HUP, QUIT, WINCH and
// EP_SIGNALS are forwarded. Requests win over EP_SIGNALS.
func MachineTable(extras []syscall.Signal) Table {
	t := table(Forward, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGWINCH)
	t.set(Forward, extras...)
	t.set(RebootRequest, syscall.SIGTERM, syscall.SIGINT)
	t.set(PoweroffRequest, syscall.SIGUSR2, syscall.SIGPWR)
	t.set(HaltRequest, syscall.SIGUSR1)
	return t
}

func table(a Action, sigs ...syscall.Signal) Table {
	t := Table{}
	t.set(a, sigs...)
	return t
}

// set maps sigs to a (SIGCHLD and SIGURG never arrive: see Notify).
func (t Table) set(a Action, sigs ...syscall.Signal) {
	for _, s := range sigs {
		t[s] = a
	}
}

// Handle is the signal loop of every mode, for the life of the process:
// it receives each signal, looks it up in t and acts on the running stage.
func (r *Runner) Handle(sigs <-chan os.Signal, t Table) {
	defer kmsg.Guard()
	for s := range sigs {
		sig := s.(syscall.Signal)
		r.Log.Debugf("signal=%d: received %v", int(sig), sig)
		switch a := t[sig]; a {
		case Forward:
			r.Forward(sig)
		case Stop:
			r.Stop(sig)
		case RebootRequest, HaltRequest, PoweroffRequest:
			r.Request(a)
		}
	}
}

// Request records a shutdown request (the strongest of the round wins) and
// stops the running stage with TERM and CONT.
func (r *Runner) Request(a Action) {
	r.mu.Lock()
	r.req = max(r.req, a)
	req := r.req
	r.mu.Unlock()
	r.Log.Infof("%s requested", req.Shutdown())
	select {
	case r.requests() <- struct{}{}:
	default:
	}
	r.Stop(syscall.SIGTERM, syscall.SIGCONT)
}

// Requests receives when a request comes (to cut the pause between rounds
// short).
func (r *Runner) Requests() <-chan struct{} { return r.requests() }

func (r *Runner) requests() chan struct{} {
	r.reqOnce.Do(func() { r.reqCh = make(chan struct{}, 1) })
	return r.reqCh
}

// Requested returns the strongest request since ClearRequest (0: none).
func (r *Runner) Requested() Action {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.req
}

// ClearRequest forgets the request once it is carried out.
func (r *Runner) ClearRequest() {
	r.mu.Lock()
	r.req = 0
	r.mu.Unlock()
	select {
	case <-r.requests():
	default:
	}
}

// goFatal are the signals a Go program dies of when kill(2) sends them
// before it notified them (the runtime's sigtable: _SigKill, _SigThrow,
// _SigPanic). The others are dropped until then.
var goFatal = []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGILL, syscall.SIGTRAP,
	syscall.SIGABRT, syscall.SIGBUS, syscall.SIGFPE, syscall.SIGSEGV, syscall.SIGTERM, syscall.SIGSTKFLT, syscall.SIGSYS}

// Notify routes every catchable signal but SIGCHLD to the returned channel
// (never signal.Ignore: children would inherit SIG_IGN). Each installation
// is a round trip to the runtime's signal thread (about 40 µs): those the
// Go runtime dies of are installed before Notify returns, and rest
// installs the others. The machine's init runs rest alongside its setup
// and waits for it before the first stage; the supervisor runs it once the
// command has started, off its critical path. Two keep only the runtime's
// own handler and never reach the channel: SIGCHLD (Reaper.Run reaps
// without it) and SIGURG (the runtime preempts its threads with it: it
// would wake the signal loop for nothing, and is never forwarded).
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
