// Package lifecycle is init's one event loop per mode. One goroutine owns
// all of a mode's state (the running stage, the pending request, the
// deadlines, the watchdog) and waits in one select for the next event:
// a signal, an exit status from the reaper, a deadline, the end of a
// stage's relay, work done off the loop (kexec load, sync), or a press of
// the power button. Other
// goroutines only send. The machine's init (node) and the supervisor are
// the same loop with more or fewer event kinds.
package lifecycle

import (
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/stageinit/stageinit/config"
	"github.com/stageinit/stageinit/console"
	"github.com/stageinit/stageinit/kmsg"
	"github.com/stageinit/stageinit/machine"
	"github.com/stageinit/stageinit/stages"
	"golang.org/x/sys/unix"
)

// timer names a deadline of the loop.
type timer int

const (
	graceTimer    timer = iota // the running stage's grace period (stages.Run.Grace)
	againTimer                 // a crashed leader's restart backoff (stages.Run.Again)
	drainTimer                 // the ended stage's relay gets 100 ms to finish
	teardownTimer              // teardown's grace period, then its reap deadline
	syncTimer                  // sync(2)'s deadline (node)
	pauseTimer                 // the wait before the next round (node)
	petTimer                   // the watchdog's next keepalive (node)
	lookTimer                  // the next look for a watchdog device (node)
	nTimers
)

// mode is what differs between the node and the supervisor: what a
// request does, what comes after a stage, after teardown and after work
// done off the loop, and the deadlines of its own.
type mode interface {
	request(a stages.Action, why string)
	stageEnded(r *stages.Run)
	tornDown(d teardown)
	worked(w work)
	timer(t timer)
}

// loop is the state and the events shared by every mode.
type loop struct {
	m     machine.Machine
	log   *kmsg.Logger
	ep    config.EP
	table stages.Table
	mode  mode

	sigs    <-chan os.Signal
	exits   chan stages.Status
	kick    chan struct{}      // wakes the reaper after a spawn
	results chan work          // work done off the loop ended (node: kexec load, sync)
	buttons chan string        // a power button was pressed (node)
	drain   <-chan struct{}    // the ended stage's relay finished; nil when none is awaited
	at      [nTimers]time.Time // zero: not armed
	clock   *time.Timer

	run  *stages.Run     // the running stage; nil between stages
	out  *console.Output // its streams (node); nil for the supervisor's command
	down *teardown       // teardown under way; nil otherwise
}

// teardown is the state of a teardown: TERM and CONT went to everyone.
type teardown struct {
	begin  time.Time
	left   bool // someone was left when it began
	killed bool // the grace period ended: SIGKILL went to everyone
}

func newLoop(m machine.Machine, log *kmsg.Logger, ep config.EP, sigs <-chan os.Signal, t stages.Table) loop {
	return loop{m: m, log: log, ep: ep, table: t, sigs: sigs,
		exits: make(chan stages.Status, 64), kick: make(chan struct{}, 1), results: make(chan work, 1), clock: time.NewTimer(time.Hour)}
}

// reap starts the one owner of wait4(-1).
func (l *loop) reap() {
	go func() { defer l.log.Guard(); stages.Reap(l.exits, l.kick) }()
}

// step waits for the next event and handles it. A signal that is
// already there goes first: a stage that asks for a shutdown and exits
// (`kill -USR2 1; exit`) has sent the signal before its exit status and
// the end of its relay came.
func (l *loop) step() {
	select {
	case s := <-l.sigs:
		l.signal(s.(syscall.Signal))
		return
	default:
	}
	t, due := l.next()
	l.clock.Reset(time.Until(due))
	select {
	case s := <-l.sigs:
		l.signal(s.(syscall.Signal))
	case st := <-l.exits:
		l.exit(st)
	case <-l.clock.C:
		l.fire(t)
	case <-l.drain:
		l.drained()
	case w := <-l.results:
		l.mode.worked(w)
	case dev := <-l.buttons:
		l.mode.request(stages.PoweroffRequest, "power button "+dev)
	}
}

// next returns the earliest armed deadline (an hour away when none is).
func (l *loop) next() (timer, time.Time) {
	if l.run != nil {
		l.at[graceTimer], l.at[againTimer] = l.run.Grace, l.run.Again
	}
	t, due := nTimers, time.Now().Add(time.Hour)
	for i, at := range l.at {
		if !at.IsZero() && at.Before(due) {
			t, due = timer(i), at
		}
	}
	return t, due
}

// fire handles the deadline t, which has passed.
func (l *loop) fire(t timer) {
	l.at[t] = time.Time{}
	switch t {
	case graceTimer:
		l.run.Expire()
	case againTimer:
		l.startLeader()
	case drainTimer:
		l.drained()
	case teardownTimer:
		l.teardownDeadline()
	case nTimers: // nothing was armed: an hour went by
	default:
		l.mode.timer(t)
	}
}

// signal looks sig up in the table and acts on the running stage.
func (l *loop) signal(sig syscall.Signal) {
	l.log.Debugf("signal=%d: received %v", int(sig), sig)
	switch a := l.table[sig]; a {
	case stages.Forward:
		if l.run != nil {
			l.run.Forward(sig)
		}
	case stages.Stop:
		if l.run != nil {
			l.run.Stop(sig)
			l.ended()
		}
	case stages.RestartRequest, stages.HaltRequest, stages.PoweroffRequest:
		name := unix.SignalName(sig) // "SIGTERM"; none for the real-time ones
		if name == "" {
			name = "signal-" + strconv.Itoa(int(sig))
		}
		l.mode.request(a, name)
	}
}

// exit takes a status from the reaper: the running leader's, or an
// orphan's (which may be the last one teardown waits for).
func (l *loop) exit(st stages.Status) {
	if l.run != nil && l.run.Leader > 0 && st.Pid == l.run.Leader {
		l.run.Exited(st)
		l.ended()
		return
	}
	l.log.Debugf("reaped orphan %d: %s", st.Pid, st.Text())
	if l.down != nil {
		l.teardownGone()
	}
}

// startStage starts a stage run; out is its streams, nil for fds 0-2.
func (l *loop) startStage(s stages.Spec, out *console.Output) {
	l.run, l.out = &stages.Run{Spec: s, M: l.m, Log: l.log, EP: l.ep}, out
	if out != nil {
		l.run.Spec.Files = out.Files
	}
	l.startLeader()
}

// startLeader starts the run's leader, first or again.
func (l *loop) startLeader() {
	l.run.Start()
	if l.run.Leader > 0 {
		select {
		case l.kick <- struct{}{}:
		default:
		}
		if l.out != nil {
			l.out.Start(l.run.Leader)
			l.log.Infof("%s: started %s, pid %d", l.run.Spec.Name, l.run.Spec.Argv[0], l.run.Leader)
		}
	}
	l.ended()
}

// ended checks whether the run is over, and if so waits for its relay.
func (l *loop) ended() {
	if l.run == nil || !l.run.Ended() || l.drain != nil {
		return
	}
	if l.out == nil {
		l.drained()
		return
	}
	l.drain, l.at[drainTimer] = l.out.End(), time.Now().Add(100*time.Millisecond)
}

// drained ends the run once its relay finished or had its 100 ms.
func (l *loop) drained() {
	r, out := l.run, l.out
	l.run, l.out, l.drain = nil, nil, nil
	l.at[graceTimer], l.at[againTimer], l.at[drainTimer] = time.Time{}, time.Time{}, time.Time{}
	if out != nil {
		if n := out.Dropped(); n > 0 {
			l.log.Warnf("%s: %d lines dropped", r.Spec.Name, n)
		}
	}
	l.mode.stageEnded(r)
}
