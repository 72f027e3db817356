package stages

import (
	"sync"
	"syscall"
	"time"

	"github.com/stageinit/stageinit/config"
	"github.com/stageinit/stageinit/kmsg"
	"github.com/stageinit/stageinit/machine"
)

// Runner runs one stage at a time: the stage leads a new session and
// process group, signals go to the whole group, the first stop arms the
// grace timer, and a leader that died by a signal is restarted when
// EP_RESTART_ENABLED asks for it. Handle (signals.go) calls Forward, Stop
// and Request while Run blocks.
type Runner struct {
	Reaper *Reaper
	M      machine.Machine
	Log    *kmsg.Logger
	EP     config.EP

	mu       sync.Mutex
	pgid     int     // the running group, 0 between runs
	cg       *Cgroup // its cgroup, if any
	stopping bool    // a stop came during this run: no restart
	stopSigs []syscall.Signal
	grace    *time.Timer   // armed once per run
	stopped  chan struct{} // closed by the first stop of this run
	req      Action        // the strongest shutdown request (machine modes)
	reqCh    chan struct{} // a request came (Requests)
	reqOnce  sync.Once
}

// Result is how a Run ended.
type Result struct {
	Status   Status // the last leader's status, when Err is nil
	Err      error  // the stage could not be started
	Restarts int
	Duration time.Duration
}

// Code is the exit code of the stage: its leader's, base+signal when it
// was killed, 127 or 126 when it could not be started.
func (r Result) Code(base int) int {
	if r.Err != nil {
		return ExitCode(r.Err)
	}
	return r.Status.Code(base)
}

func (r *Runner) kill(pid int, sig syscall.Signal) {
	if err := r.M.Kill(pid, sig); err != nil && err != syscall.ESRCH {
		r.Log.Warnf("kill %d %v: %v", pid, sig, err)
	}
}

// Forward sends sig to the running stage's process group: kill(-pgid, sig).
func (r *Runner) Forward(sig syscall.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pgid > 0 {
		r.Log.Debugf("forward %v to group %d", sig, r.pgid)
		r.kill(-r.pgid, sig)
	}
}

// Stop ends the run: no more restarts, sigs to the group (and to its
// cgroup, which holds the daemons that left the group), and the grace
// timer armed if it is not yet: a second Stop never re-arms or extends
// it. At expiry the group and its cgroup get SIGKILL. A Stop before the
// leader exists is applied as soon as it does.
func (r *Runner) Stop(sigs ...syscall.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stopping {
		r.stopping = true
		close(r.stoppedLocked())
	}
	r.stopSigs = sigs
	r.sendStopLocked()
}

func (r *Runner) sendStopLocked() {
	if r.pgid <= 0 {
		return
	}
	for _, s := range r.stopSigs {
		r.Log.Debugf("forward %v to group %d", s, r.pgid)
		r.kill(-r.pgid, s)
		r.cg.Signal(s)
	}
	if r.grace == nil {
		r.Log.Debugf("grace_seconds=%d: grace timer armed: %v", int64(r.EP.Grace/time.Second), r.EP.Grace)
		r.grace = time.AfterFunc(r.EP.Grace, r.expire)
	}
}

func (r *Runner) expire() {
	defer kmsg.Guard()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pgid > 0 {
		r.Log.Warnf("grace period of %v over: SIGKILL to group %d", r.EP.Grace, r.pgid)
		r.kill(-r.pgid, syscall.SIGKILL)
		if err := r.cg.Kill(); err != nil {
			r.Log.Errf("%v", err)
		}
	}
}

// Reset forgets the stop of the previous run. The machine lifecycle calls
// it before each stage; supervisor mode runs once and never does, so a
// signal that came before the command started still stops it.
func (r *Runner) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopping, r.stopSigs, r.stopped = false, nil, make(chan struct{})
	if r.grace != nil {
		r.grace.Stop()
		r.grace = nil
	}
}

// Run starts the stage and returns when its leader has exited for good,
// restarts included.
func (r *Runner) Run(s Spec) Result {
	start := time.Now()
	var res Result
	for {
		res.Status, res.Err = r.runOnce(s)
		if res.Err != nil || s.NoRestart || !r.restart(res.Status, res.Restarts) {
			break
		}
		res.Restarts++
		r.Log.Warnf("%s: died by %v, restart %d (backoff %v)", s.Name, res.Status.WS.Signal(), res.Restarts, r.EP.Backoff)
		if !r.backoff() {
			r.Log.Infof("%s: shutdown requested during restart backoff, not restarting", s.Name)
			break
		}
		r.Log.Debugf("restart_count=%d: restarting %s", res.Restarts, s.Name)
	}
	res.Duration = time.Since(start)
	r.mu.Lock()
	if r.grace != nil {
		r.grace.Stop()
	}
	r.mu.Unlock()
	return res
}

func (r *Runner) runOnce(s Spec) (Status, error) {
	pid, ch, err := r.Reaper.Start(func() (int, error) { return spawn(s) })
	if err != nil {
		return Status{}, err
	}
	if s.Started != nil {
		s.Started(pid)
	}
	r.mu.Lock()
	r.pgid, r.cg = pid, s.Cgroup
	if r.stopping {
		r.sendStopLocked()
	}
	r.mu.Unlock()
	st := <-ch
	r.mu.Lock()
	r.pgid, r.cg = 0, nil
	r.mu.Unlock()
	return st, nil
}

func (r *Runner) restart(st Status, restarts int) bool {
	r.mu.Lock()
	stopping := r.stopping
	r.mu.Unlock()
	return r.EP.Restart && st.WS.Signaled() && !stopping &&
		(r.EP.MaxRestarts == 0 || restarts < r.EP.MaxRestarts)
}

// backoff sleeps EP_RESTART_BACKOFF_SECONDS; false if a stop came first.
func (r *Runner) backoff() bool {
	r.mu.Lock()
	stopped := r.stoppedLocked()
	r.mu.Unlock()
	t := time.NewTimer(r.EP.Backoff)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stopped:
		return false
	}
}

// stoppedLocked returns the channel the first Stop closes; r.mu is held.
func (r *Runner) stoppedLocked() chan struct{} {
	if r.stopped == nil {
		r.stopped = make(chan struct{})
	}
	return r.stopped
}
