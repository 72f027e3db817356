package lifecycle

import (
	"syscall"
	"time"
)

// Teardown ends every process but init: on a machine before a reboot, a
// kexec or a soft restart, and in a container after its command exited.
// TERM and CONT go to all with kill(-1), which as pid 1 of a pid
// namespace reaches only that namespace; once nobody is left or the grace
// period is over, SIGKILL to all, then up to 5 s for the reaper. "Nobody
// left" means waitid(2) answers ECHILD: every process descends from init,
// while kill(-1, 0) also reaches the kernel threads and never fails.
func (l *loop) teardown() {
	l.down = &teardown{begin: time.Now(), left: l.m.Children()}
	if l.down.left {
		l.log.Infof("processes left: TERM and CONT, then up to %v before SIGKILL", l.ep.Grace)
	}
	l.m.Kill(-1, syscall.SIGTERM)
	l.m.Kill(-1, syscall.SIGCONT)
	l.at[teardownTimer] = l.down.begin.Add(l.ep.Grace)
	l.teardownGone()
}

// teardownGone ends the teardown when nobody is left.
func (l *loop) teardownGone() {
	if !l.m.Children() {
		l.tornDown()
	}
}

// teardownDeadline is the end of the grace period, then of the wait for
// the reaper after SIGKILL.
func (l *loop) teardownDeadline() {
	if l.down.killed {
		l.log.Errf("teardown: children still not reaped after SIGKILL, going on")
		l.tornDown()
		return
	}
	l.log.Warnf("teardown: processes left after %v: SIGKILL to all", l.ep.Grace)
	l.m.Kill(-1, syscall.SIGKILL)
	l.down.killed, l.at[teardownTimer] = true, time.Now().Add(5*time.Second)
	l.teardownGone()
}

func (l *loop) tornDown() {
	d := l.down
	l.down, l.at[teardownTimer] = nil, time.Time{}
	if d.left {
		l.log.Infof("teardown done in %v", time.Since(d.begin).Round(time.Millisecond))
	}
	switch {
	case l.node != nil:
		l.node.sync()
	case d.killed:
		l.log.Warnf("killed the processes that outlived the grace period of %v", l.ep.Grace)
		fallthrough
	default:
		l.done = true
	}
}
