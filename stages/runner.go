package stages

import (
	"sync"
	"syscall"
	"time"

	"github.com/stageinit/stageinit/kmsg"
	"golang.org/x/sys/unix"
)

// Policy is the grace and restart behaviour of mini-init-asm's EP_* variables.
type Policy struct {
	Grace       time.Duration // first stop request to SIGKILL of the group
	Restart     bool          // restart a leader that died by a signal
	MaxRestarts int           // 0 means unlimited
	Backoff     time.Duration // delay before a restart
	ExitBase    int           // exit code = ExitBase + signal
}

// Result is how a Run ended.
type Result struct {
	Status   Status // the last leader's status, when Err is nil
	Err      error  // the stage could not be started
	Code     int    // exit code, or ExitBase+signal, or 126/127
	Restarts int
	Duration time.Duration
}

// Runner runs one stage at a time under the core. Forward and Stop may be
// called from any goroutine (the signal loop) while Run blocks.
type Runner struct {
	Reaper *Reaper
	Policy Policy
	Log    *kmsg.Logger
	// OnStart is called with each leader's pid right after it started.
	OnStart func(pid int)
	// Kill is the seam for kill(2); nil means unix.Kill.
	Kill func(pid int, sig syscall.Signal) error

	mu       sync.Mutex
	pgid     int     // running group, 0 between runs
	cg       *Cgroup // the running stage's cgroup, if any
	stopping bool    // a stop was requested during this Run
	stopSigs []syscall.Signal
	grace    *time.Timer   // armed once per Run
	stopped  chan struct{} // closed by the first Stop of this Run
}

func (r *Runner) kill(pid int, sig syscall.Signal) {
	kill := r.Kill
	if kill == nil {
		kill = unix.Kill
	}
	if err := kill(pid, sig); err != nil && err != syscall.ESRCH {
		r.Log.Warnf("kill %d %v: %v", pid, sig, err)
	}
}

// Forward sends sig to the running stage's process group (kill(-pgid, sig)).
func (r *Runner) Forward(sig syscall.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pgid > 0 {
		r.Log.Debugf("forward %v to group %d", sig, r.pgid)
		r.kill(-r.pgid, sig)
	}
}

// Stop marks the run as shutting down (no more restarts), sends sigs to the
// group and arms the grace timer if it is not armed yet: a second Stop never
// re-arms or extends it. At expiry the group gets SIGKILL.
func (r *Runner) Stop(sigs ...syscall.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stopping {
		r.stopping = true
		close(r.stoppedCh())
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
		if r.cg != nil {
			r.cg.Signal(s) // daemons that left the group with setsid
		}
	}
	if r.grace == nil {
		r.Log.Debugf("grace timer armed: %v", r.Policy.Grace)
		r.grace = time.AfterFunc(r.Policy.Grace, r.expire)
	}
}

func (r *Runner) expire() {
	defer kmsg.Guard()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pgid > 0 {
		r.Log.Warnf("grace period of %v over: SIGKILL to group %d", r.Policy.Grace, r.pgid)
		r.kill(-r.pgid, syscall.SIGKILL)
		if r.cg != nil {
			if err := r.cg.Kill(); err != nil {
				r.Log.Errf("%v", err)
			}
		}
	}
}

// Stopping reports whether a stop was requested during the current Run.
func (r *Runner) Stopping() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopping
}

func (r *Runner) stoppedCh() chan struct{} {
	if r.stopped == nil {
		r.stopped = make(chan struct{})
	}
	return r.stopped
}

// Reset forgets the stop state of a previous Run (pid 1 calls it before
// each stage; supervisor mode never does, so an early signal is kept).
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
// restarts included. A Stop that came before the leader started is applied
// to it as soon as it has.
func (r *Runner) Run(s Spec) Result {
	start := time.Now()
	res := Result{}
	for {
		st, err := r.runOnce(s)
		res.Status, res.Err = st, err
		if err != nil {
			res.Code = ExitCode(err)
			break
		}
		res.Code = st.Code(r.Policy.ExitBase)
		if s.NoRestart || !r.restart(st, res.Restarts) {
			break
		}
		res.Restarts++
		r.Log.Warnf("%s: died by %v, restart %d (backoff %v)", s.Name, st.WS.Signal(), res.Restarts, r.Policy.Backoff)
		if !r.backoff() {
			r.Log.Infof("%s: stop requested during backoff, not restarting", s.Name)
			break
		}
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
	if r.OnStart != nil {
		r.OnStart(pid)
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
	p := r.Policy
	return p.Restart && st.WS.Signaled() && !r.Stopping() &&
		(p.MaxRestarts == 0 || restarts < p.MaxRestarts)
}

// backoff sleeps Policy.Backoff; it returns false if a Stop came first.
func (r *Runner) backoff() bool {
	r.mu.Lock()
	stopped := r.stoppedCh()
	r.mu.Unlock()
	t := time.NewTimer(r.Policy.Backoff)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stopped:
		return false
	}
}
