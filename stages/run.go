package stages

import (
	"syscall"
	"time"

	"github.com/stageinit/stageinit/config"
	"github.com/stageinit/stageinit/kmsg"
	"github.com/stageinit/stageinit/machine"
	"golang.org/x/sys/unix"
)

// Run is one run of a stage, restarts included: the stage leads a new
// session and process group, signals go to the whole group, the first
// stop starts the grace period, and a leader that died by a signal is
// started again when EP_RESTART_ENABLED asks for it. It holds no lock:
// one event loop calls its methods and keeps its deadlines (Grace, Again).
type Run struct {
	Spec Spec
	M    machine.Machine
	Log  *kmsg.Logger
	EP   config.EP

	Leader   int       // the running leader's pid; 0 when none runs
	Restarts int       // leaders started again
	Begin    time.Time // the first start
	Grace    time.Time // the group gets SIGKILL then; zero until the first stop and after it
	Again    time.Time // the crashed leader starts again then; zero when not due
	Status   Status    // how the last leader ended
	Err      error     // the stage could not be started

	stopSigs []syscall.Signal // a stop came: no restart, these go to each leader
	graced   bool             // the grace period was started: never again
	killed   bool             // the cgroup got SIGKILL: the run ends when it is empty
}

// Code is the exit code of the stage: its leader's, base+signal when it
// was killed, 127 or 126 when it could not be started.
func (r *Run) Code(base int) int {
	if r.Err != nil {
		return exitCode(r.Err)
	}
	return r.Status.Code(base)
}

// Ended reports whether no leader runs and none is due to start, and,
// once the cgroup got SIGKILL, whether nothing of it is left: the next
// stage never runs beside the killed one's daemons. (The last of them to
// go sends init a SIGCHLD, which brings the loop back to look.)
func (r *Run) Ended() bool {
	return r.Leader == 0 && r.Again.IsZero() && (!r.killed || r.Spec.Cgroup.empty())
}

// Abandon gives up on what SIGKILL has not ended: the leader is taken as
// killed and the cgroup as empty.
func (r *Run) Abandon() {
	if r.Leader > 0 {
		r.Exited(Status{Pid: r.Leader, WS: unix.WaitStatus(syscall.SIGKILL)})
	}
	r.killed = false
}

// Start starts a leader: the first, or the next once Again has passed. A
// stop that came before applies to it at once.
func (r *Run) Start() {
	if r.Begin.IsZero() {
		r.Begin = time.Now()
	} else {
		r.Log.Debugf("restart_count=%d: restarting %s", r.Restarts, r.Spec.Name)
	}
	r.Again = time.Time{}
	r.Leader, r.Err = spawn(r.M, r.Spec)
	r.signalStop()
}

// Forward sends sig to the running group: kill(-pgid, sig).
func (r *Run) Forward(sig syscall.Signal) {
	if r.Leader > 0 {
		r.Log.Debugf("forward %v to group %d", sig, r.Leader)
		r.kill(-r.Leader, sig)
	}
}

// Stop ends the run: no more restarts (a restart due is dropped), sigs to
// the group and to its cgroup, which holds the daemons that left the
// group, and the grace period started if it was not yet: a second Stop
// never extends it.
func (r *Run) Stop(sigs ...syscall.Signal) {
	r.stopSigs = sigs
	if !r.Again.IsZero() {
		r.Again = time.Time{}
		r.Log.Infof("%s: shutdown requested during restart backoff, not restarting", r.Spec.Name)
	}
	r.signalStop()
}

func (r *Run) signalStop() {
	if r.Leader <= 0 || r.stopSigs == nil {
		return
	}
	for _, s := range r.stopSigs {
		r.Forward(s)
		r.Spec.Cgroup.signal(s)
	}
	if !r.graced {
		r.graced = true
		r.Log.Debugf("grace_seconds=%d: grace timer armed: %v", int64(r.EP.Grace/time.Second), r.EP.Grace)
		r.Grace = time.Now().Add(r.EP.Grace)
	}
}

// Expire ends the grace period: SIGKILL to the group and its cgroup.
func (r *Run) Expire() {
	r.Grace = time.Time{}
	if r.Leader > 0 {
		r.Log.Warnf("grace period of %v over: SIGKILL to group %d", r.EP.Grace, r.Leader)
		r.kill(-r.Leader, syscall.SIGKILL)
		r.Spec.Cgroup.kill()
		r.killed = true
	}
}

// Exited takes the leader's status: a leader killed by a signal is due to
// start again (Again) when the policy asks for it, else the run ends.
func (r *Run) Exited(st Status) {
	r.Leader, r.Status = 0, st
	if r.Spec.NoRestart || !r.EP.Restart || !st.WS.Signaled() || r.stopSigs != nil ||
		(r.EP.MaxRestarts > 0 && r.Restarts >= r.EP.MaxRestarts) {
		return
	}
	r.Restarts++
	r.Log.Warnf("%s: died by %v, restart %d (backoff %v)", r.Spec.Name, st.WS.Signal(), r.Restarts, r.EP.Backoff)
	r.Again = time.Now().Add(r.EP.Backoff)
}

func (r *Run) kill(pid int, sig syscall.Signal) {
	if err := r.M.Kill(pid, sig); err != nil && err != syscall.ESRCH {
		r.Log.Warnf("kill %d %v: %v", pid, sig, err)
	}
}
