package stages

import (
	"os"
	"syscall"
	"time"

	"github.com/stageinit/stageinit/kmsg"
	"golang.org/x/sys/unix"
)

// Teardown ends every process but init before a reboot or a soft restart
// (SPEC 2.5). Its side effects go through one-function seams.
type Teardown struct {
	Reaper *Reaper
	Log    *kmsg.Logger
	Grace  time.Duration
	Kill   func(pid int, sig syscall.Signal) error // nil: unix.Kill
	Sync   func()                                  // nil: unix.Sync
	Getpid func() int                              // nil: os.Getpid
	// Left reports whether any process but init is left. nil: reap, and
	// ask wait4(2): every process descends from pid 1, so none is left
	// exactly when it answers ECHILD. kill(-1, 0) cannot tell: on a real
	// kernel it also reaches the kernel threads and never fails with ESRCH.
	Left func() bool
	// Cgroups, if set: wait on the stage cgroups' cgroup.events and kill
	// them with cgroup.kill.
	Cgroups *Cgroups
	// Reap and sync deadlines; zero means 5 s and 10 s.
	ReapDeadline, SyncDeadline time.Duration
}

// Run sends TERM and CONT to every process, waits until none is left or the
// grace period ends, sends KILL, reaps until ECHILD, then syncs, each with
// a deadline. kill(-1, ...) is only ever sent by pid 1.
func (t *Teardown) Run() {
	getpid, kill, sync := t.Getpid, t.Kill, t.Sync
	if getpid == nil {
		getpid = os.Getpid
	}
	if kill == nil {
		kill = unix.Kill
	}
	if sync == nil {
		sync = unix.Sync
	}
	if getpid() != 1 {
		t.Log.Errf("teardown refused: kill(-1) only from pid 1")
		return
	}
	start := time.Now()
	kill(-1, syscall.SIGTERM)
	kill(-1, syscall.SIGCONT)
	var groups []*Cgroup
	if t.Cgroups != nil {
		groups = t.Cgroups.Made()
	}
	deadline := start.Add(t.Grace)
	for _, g := range groups {
		g.WaitEmpty(time.Until(deadline))
	}
	if t.waitGone(time.Until(deadline)) {
		t.Log.Warnf("teardown: processes left after %v: SIGKILL to all", t.Grace)
		for _, g := range groups {
			g.Kill()
		}
		kill(-1, syscall.SIGKILL)
	}
	t.reapAll(orDefault(t.ReapDeadline, 5*time.Second))
	done := make(chan struct{})
	go func() { defer kmsg.Guard(); sync(); close(done) }()
	select {
	case <-done:
	case <-time.After(orDefault(t.SyncDeadline, 10*time.Second)):
		t.Log.Errf("teardown: sync did not finish in time, going on")
	}
	t.Log.Infof("teardown done in %v", time.Since(start).Round(time.Millisecond))
}

// waitGone polls Left until nobody is left or d passes. It reports
// whether processes are left.
func (t *Teardown) waitGone(d time.Duration) bool {
	left := t.Left
	if left == nil {
		left = func() bool { _, none := t.Reaper.Reap(); return !none }
	}
	deadline := time.Now().Add(d)
	for {
		if !left() {
			return false
		}
		if time.Now().After(deadline) {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (t *Teardown) reapAll(d time.Duration) {
	deadline := time.Now().Add(d)
	for {
		if _, none := t.Reaper.Reap(); none {
			return
		}
		if time.Now().After(deadline) {
			t.Log.Errf("teardown: children still not reaped after %v", d)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
