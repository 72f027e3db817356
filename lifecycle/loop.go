// Package lifecycle is init's one event loop. One goroutine owns all of
// the state (the running stage, the pending request, the deadlines, the
// watchdog) and waits in one select for the next event: a signal (SIGCHLD
// among them: the loop reaps), a deadline, the end of a stage's relay,
// work done off the loop (kexec load, sync), or a press of the power
// button. Other goroutines only send. The machine's init (a node) and the
// supervisor are the same loop; the supervisor has no node, so no
// requests, no work off the loop and no deadlines of a node's.
package lifecycle

import (
	"cmp"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/stageinit/stageinit/config"
	"github.com/stageinit/stageinit/hardware"
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
	reapTimer                  // reaping stopped short: go on at once
	killTimer                  // the leader got SIGKILL: if it has not ended by then, go on without it
	rebootTimer                // the reboot stage's deadline (node)
	workTimer                  // the deadline of work off the loop (node)
	pauseTimer                 // the wait before the next round (node)
	petTimer                   // the watchdog's next keepalive (node)
	lookTimer                  // the next look for a watchdog device (node)
	nTimers
)

// loop is the state and the events of both modes.
type loop struct {
	m     machine.Machine
	log   *kmsg.Logger
	ep    config.EP
	table stages.Table
	node  *node // the machine's lifecycle; nil for the supervisor

	sigs    chan syscall.Signal
	results chan work          // work done off the loop ended (node: kexec load, sync)
	buttons chan string        // a power button was pressed (node)
	drain   <-chan struct{}    // the ended stage's relay finished; nil when none is awaited
	at      [nTimers]time.Time // zero: not armed
	clock   *time.Timer

	run  *stages.Run // the running stage; nil between stages
	out  *kmsg.Relay // its stderr relay (node); nil for the supervisor's command
	down *teardown   // teardown under way; nil otherwise

	// The supervisor's: it is pid 1 of a container (teardown after the
	// command), the command's exit code, and the command has ended.
	container bool
	code      int
	done      bool
}

// teardown is the state of a teardown: TERM and CONT went to everyone.
type teardown struct {
	begin  time.Time
	left   bool // someone was left when it began
	killed bool // the grace period ended: SIGKILL went to everyone
}

func newLoop(m machine.Machine, log *kmsg.Logger, ep config.EP, t stages.Table) loop {
	return loop{m: m, log: log, ep: ep, table: t, sigs: make(chan syscall.Signal, 256),
		results: make(chan work, 1), clock: time.NewTimer(time.Hour)}
}

// step waits for the next event and handles it. A signal and the exit it
// came before (a stage's `kill -USR2 1; exit`) arrive in that order: one
// pipe, which the kernel fills lowest signal number first.
func (l *loop) step() {
	t, due := l.next()
	l.clock.Reset(time.Until(due))
	select {
	case sig := <-l.sigs:
		l.signal(sig)
	case <-l.clock.C:
		l.fire(t)
	case <-l.drain:
		l.drained()
	case w := <-l.results:
		l.node.worked(w)
	case dev := <-l.buttons:
		l.node.request(stages.PoweroffRequest, "power button "+dev)
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
		l.at[killTimer] = time.Now().Add(5 * time.Second)
	case killTimer:
		if l.run == nil || l.run.Ended() {
			break // it ended meanwhile
		}
		if l.run.Leader > 0 {
			l.log.Errf("%s: pid %d still there 5s after SIGKILL (stuck in the kernel?): going on without it",
				l.run.Spec.Name, l.run.Leader)
		} else {
			l.log.Errf("%s: processes still in %s 5s after SIGKILL (stuck in the kernel?): going on without them",
				l.run.Spec.Name, l.run.Spec.Cgroup.Path)
		}
		l.run.Abandon()
		l.ended()
	case againTimer:
		l.startLeader()
	case drainTimer:
		l.drained()
	case teardownTimer:
		l.teardownDeadline()
	case reapTimer:
		l.reap()
	case nTimers: // nothing was armed: an hour went by
	default:
		l.node.timer(t)
	}
}

// signal looks sig up in the table and acts on the running stage, then
// reaps: at every signal, so that a SIGCHLD that a full pipe dropped
// loses no exit.
func (l *loop) signal(sig syscall.Signal) {
	if l.log.Verbose { // a debug line's arguments are allocated even when it is dropped: SIGCHLD comes often
		l.log.Debugf("signal=%d: received %v", int(sig), sig)
	}
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
	case stages.RebootRequest, stages.HaltRequest, stages.PoweroffRequest:
		// "SIGTERM"; no name for the real-time ones
		l.node.request(a, cmp.Or(unix.SignalName(sig), "signal-"+strconv.Itoa(int(sig))))
	}
	l.reap()
}

// reap takes the statuses of what has ended, at most 100 at a time: under
// a fork bomb orphans never stop ending, and the loop must get to its
// deadlines; when it stops short, the reap timer brings it back at once.
func (l *loop) reap() {
	for i := 0; i < 100; i++ {
		st, ok := stages.Reaped()
		if !ok {
			l.ended() // once a batch: the orphans may have been the last of a killed cgroup
			return
		}
		l.exit(st)
	}
	l.at[reapTimer] = time.Now()
}

// exit takes a reaped status: the running leader's, or an orphan's (which
// may be the last one teardown waits for).
func (l *loop) exit(st stages.Status) {
	if l.run != nil && l.run.Leader > 0 && st.Pid == l.run.Leader {
		l.run.Exited(st)
		l.ended()
		return
	}
	if l.log.Verbose { // as in signal: nothing allocated per orphan
		l.log.Debugf("reaped orphan %d: %s", st.Pid, st.Text())
	}
	if l.down != nil {
		l.teardownGone()
	}
}

// startStage starts a stage run; out is its stderr relay, nil for the
// supervisor's command, whose fds are init's own.
func (l *loop) startStage(s stages.Spec, out *kmsg.Relay) {
	l.run, l.out = &stages.Run{Spec: s, M: l.m, Log: l.log, EP: l.ep}, out
	l.startLeader()
}

// startLeader starts the run's leader, first or again.
func (l *loop) startLeader() {
	if l.run.Start(); l.run.Leader > 0 && l.out != nil {
		l.out.Start(l.run.Leader)
		l.log.Infof("%s: started %s, pid %d", l.run.Spec.Name, l.run.Spec.Argv[0], l.run.Leader)
	}
	l.ended()
}

// ended checks whether the run is over, and if so waits for its relay.
func (l *loop) ended() {
	if l.run == nil || l.drain != nil || !l.run.Ended() {
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
	for _, t := range []timer{graceTimer, againTimer, drainTimer, killTimer, rebootTimer} {
		l.at[t] = time.Time{}
	}
	if out != nil {
		if n := out.Dropped(); n > 0 {
			l.log.Warnf("%s: %d lines dropped", r.Spec.Name, n)
		}
	}
	if l.node != nil {
		l.node.stageEnded(r)
	} else {
		l.commandEnded(r)
	}
}

// watch waits on the descriptors init reads besides its stages' pipes:
// the signal pipe, and on a node the power buttons' inotify, in an epoll
// set of its own that waits in the Go runtime's poller (an epoll file
// descriptor is itself pollable), so that no thread is held in a system
// call. It sends each signal to the loop, and has the buttons look for
// devices when one may have come (every 2 s without inotify). Without a
// signal pipe it sends a SIGCHLD every second: the loop still reaps.
func watch(log *kmsg.Logger, sigfd int, sigs chan<- syscall.Signal, b *hardware.Buttons) {
	defer log.Guard()
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err == nil {
		err = unix.SetNonblock(ep, true)
	}
	fds, every := []int{sigfd}, time.Duration(0)
	if b != nil {
		fds = append(fds, b.Fd())
	}
	for i, fd := range fds {
		if fd < 0 {
			every = []time.Duration{time.Second, 2 * time.Second}[i]
		} else if err == nil {
			err = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)})
		}
	}
	if err != nil {
		log.Critf("epoll for signals and buttons: %v", err)
		return
	}
	f := os.NewFile(uintptr(ep), "watch")
	raw, _ := f.SyscallConn()
	b.Look()
	for ready := make([]unix.EpollEvent, 4); ; {
		if every > 0 {
			f.SetReadDeadline(time.Now().Add(every))
		}
		err := raw.Read(func(uintptr) bool {
			n, _ := unix.EpollWait(ep, ready, 0)
			for _, e := range ready[:max(n, 0)] {
				if int(e.Fd) == sigfd {
					stages.ReadSignals(sigfd, sigs)
				} else {
					b.Look()
				}
			}
			return n > 0
		})
		if err != nil { // the deadline: no inotify, or no signal pipe
			b.Look()
			if sigfd < 0 {
				sigs <- syscall.SIGCHLD
			}
		}
	}
}
