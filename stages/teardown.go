package stages

import (
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/stageinit/stageinit/kmsg"
	"github.com/stageinit/stageinit/machine"
)

// Teardown ends every process but init: on a machine before a reboot, a
// kexec or a soft restart, and in a container after its command exited.
// TERM and CONT go to all; it waits until none is left or the grace period
// is over, KILLs the rest and reaps. "None left" means wait4(2) answers
// ECHILD: every process descends from init, while kill(-1, 0) also
// reaches the kernel threads and never fails on a real kernel.
type Teardown struct {
	M       machine.Machine
	Reaper  *Reaper
	Log     *kmsg.Logger
	Grace   time.Duration
	Cgroups *Cgroups // machine: wait on the stage cgroups and kill them whole
	// Container signals each pid of /proc in turn instead of kill(-1)
	// (a container's init never sends kill(-1)), logs only when something
	// was left, and leaves sync(2) to the host.
	Container bool
	// Reap and sync deadlines; zero means 5 s and 10 s.
	ReapDeadline, SyncDeadline time.Duration
}

// Run tears down and returns how many processes got SIGKILL (counted in a
// container only: kill(-1) does not tell).
func (t *Teardown) Run() (killed int) {
	start := time.Now()
	if self, _ := os.Readlink("/proc/self"); t.Container && self != "1" {
		if !t.gone() { // pids of another namespace's proc name other processes
			t.Log.Warnf("/proc is not this pid namespace's: the processes left get SIGKILL from the kernel when init exits")
		}
		return 0
	}
	if n := t.signalAll(syscall.SIGTERM); n > 0 {
		t.Log.Infof("%d processes left: TERM and CONT, then up to %v before SIGKILL", n, t.Grace)
	} else if t.Container {
		return 0
	}
	t.signalAll(syscall.SIGCONT)
	deadline, groups := start.Add(t.Grace), t.Cgroups.Made()
	for _, g := range groups {
		g.WaitEmpty(time.Until(deadline))
	}
	if !t.waitGone(deadline) {
		t.Log.Warnf("teardown: processes left after %v: SIGKILL to all", t.Grace)
		for _, g := range groups {
			g.Kill()
		}
		killed = t.killAll()
	}
	if !t.waitGone(time.Now().Add(orDefault(t.ReapDeadline, 5*time.Second))) {
		t.Log.Errf("teardown: children still not reaped after SIGKILL, going on")
	}
	if !t.Container {
		t.sync(orDefault(t.SyncDeadline, 10*time.Second))
	}
	t.Log.Infof("teardown done in %v", time.Since(start).Round(time.Millisecond))
	return killed
}

// signalAll sends sig to every process but init and returns how many it
// reached (in a container; kill(-1) does not tell).
func (t *Teardown) signalAll(sig syscall.Signal) int {
	if !t.Container {
		t.M.Kill(-1, sig)
		return 0
	}
	n := 0
	for _, pid := range t.procPids() {
		if t.M.Kill(pid, sig) == nil {
			n++
		}
	}
	return n
}

// killAll sends SIGKILL until nobody is left (a process may fork between
// the listing and the kill) and counts the processes it reached.
func (t *Teardown) killAll() int {
	if !t.Container {
		t.M.Kill(-1, syscall.SIGKILL)
		return 0
	}
	seen := map[int]bool{}
	for i := 0; i < 100 && !t.gone(); i++ {
		for _, pid := range t.procPids() {
			if !seen[pid] && t.M.Kill(pid, syscall.SIGKILL) == nil {
				seen[pid] = true
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return len(seen)
}

// procPids lists the pids of /proc but init's (Run checked that /proc is
// of init's own pid namespace).
func (t *Teardown) procPids() []int {
	entries, _ := os.ReadDir("/proc")
	var l []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid != 1 {
			l = append(l, pid)
		}
	}
	return l
}

// gone reaps what has exited and reports whether no child is left.
func (t *Teardown) gone() bool {
	_, none := t.Reaper.Reap()
	return none
}

// waitGone polls until nobody is left (true) or the deadline passes.
func (t *Teardown) waitGone(deadline time.Time) bool {
	for !t.gone() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// sync runs sync(2) with a deadline: a hung NFS server must not stop a reboot.
func (t *Teardown) sync(d time.Duration) {
	done := make(chan struct{})
	go func() { defer kmsg.Guard(); t.M.Sync(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Log.Errf("teardown: sync did not finish in %v, going on", d)
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
