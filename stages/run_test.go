package stages

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stageinit/stageinit/config"
	"github.com/stageinit/stageinit/kmsg"
	"github.com/stageinit/stageinit/machine/machinetest"
	"golang.org/x/sys/unix"
)

func newRun(ep config.EP) (*Run, *machinetest.Fake) {
	m := &machinetest.Fake{}
	return &Run{Spec: Spec{Name: "t", Argv: []string{"/bin/t"}}, M: m, Log: kmsg.NewLogger(io.Discard, false, nil), EP: ep}, m
}

func killed(sig syscall.Signal) Status {
	return Status{WS: unix.WaitStatus(sig)}
}

// TestGraceArmedOnce: the grace period starts at the first Stop; later
// Stops neither re-arm nor extend it, and at its end the group gets
// SIGKILL, once.
func TestGraceArmedOnce(t *testing.T) {
	r, m := newRun(config.EP{Grace: 600 * time.Millisecond, ExitBase: 128})
	r.Start()
	pgid := r.Leader
	if !r.Grace.IsZero() {
		t.Fatal("grace armed before any stop")
	}
	before := time.Now()
	r.Stop(syscall.SIGTERM)
	first := r.Grace
	if first.Before(before.Add(600*time.Millisecond)) || first.After(time.Now().Add(600*time.Millisecond)) {
		t.Fatalf("grace ends %v after the stop, want 600ms", first.Sub(before))
	}
	for i := 0; i < 4; i++ {
		time.Sleep(10 * time.Millisecond)
		r.Stop(syscall.SIGTERM) // must not extend the deadline
	}
	if r.Grace != first {
		t.Errorf("grace moved from %v to %v", first, r.Grace)
	}
	r.Expire()
	r.Stop(syscall.SIGTERM)
	if !r.Grace.IsZero() {
		t.Error("grace armed again after it ended")
	}
	r.Exited(Status{Pid: pgid, WS: unix.WaitStatus(syscall.SIGKILL)})
	if code := r.Code(128); code != 137 || !r.Ended() {
		t.Errorf("code %d ended %v, want 137 and ended", code, r.Ended())
	}
	if n := m.Count(fmt.Sprintf("kill %d killed", -pgid)); n != 1 {
		t.Errorf("%d SIGKILLs, want 1: %q", n, m.Calls())
	}
	if n := m.Count(fmt.Sprintf("kill %d terminated", -pgid)); n != 6 {
		t.Errorf("%d SIGTERMs forwarded, want 6: %q", n, m.Calls())
	}
}

// TestStopBeforeStart: a Stop that arrives before the leader exists is
// applied to it as soon as it started, and no restart follows.
func TestStopBeforeStart(t *testing.T) {
	r, m := newRun(config.EP{Grace: 10 * time.Second, ExitBase: 128, Restart: true})
	r.Stop(syscall.SIGTERM)
	r.Start()
	if n := m.Count(fmt.Sprintf("kill %d terminated", -r.Leader)); n != 1 || r.Grace.IsZero() {
		t.Fatalf("stop not applied at the start: %q, grace %v", m.Calls(), r.Grace)
	}
	r.Exited(killed(syscall.SIGTERM))
	if code := r.Code(128); code != 143 || r.Restarts != 0 || !r.Ended() {
		t.Errorf("code %d restarts %d, want 143 and none", code, r.Restarts)
	}
}

// TestRestartPolicy: a leader killed by a signal starts again after the
// backoff, up to EP_MAX_RESTARTS; an exit never restarts; a Stop during
// the backoff ends the run.
func TestRestartPolicy(t *testing.T) {
	r, m := newRun(config.EP{ExitBase: 128, Restart: true, MaxRestarts: 2, Backoff: time.Second})
	r.Start()
	before := time.Now()
	r.Exited(killed(syscall.SIGSEGV))
	if r.Ended() || r.Again.Before(before.Add(time.Second)) {
		t.Fatalf("no restart due a second after SEGV: again %v", r.Again.Sub(before))
	}
	r.Start()
	r.Exited(killed(syscall.SIGSEGV))
	r.Start()
	r.Exited(killed(syscall.SIGSEGV))
	if !r.Ended() || r.Restarts != 2 || len(m.Spawned()) != 3 {
		t.Errorf("after max restarts: ended %v restarts %d spawns %d, want true 2 3", r.Ended(), r.Restarts, len(m.Spawned()))
	}
	r, _ = newRun(config.EP{ExitBase: 128, Restart: true, Backoff: time.Second})
	r.Start()
	r.Exited(Status{WS: unix.WaitStatus(3 << 8)})
	if !r.Ended() || r.Code(128) != 3 {
		t.Errorf("exit 3 restarted or lost: ended %v code %d", r.Ended(), r.Code(128))
	}
	r, _ = newRun(config.EP{ExitBase: 128, Restart: true, Backoff: time.Hour})
	r.Start()
	r.Exited(killed(syscall.SIGSEGV))
	r.Stop(syscall.SIGTERM)
	if !r.Ended() || !r.Again.IsZero() {
		t.Errorf("stop during backoff: ended %v again %v", r.Ended(), r.Again)
	}
}

// TestKilledCgroupEmpties: after the grace period the run ends only once
// its cgroup is empty (its daemons got SIGKILL too, and may take longer
// than the leader to go); Abandon ends it without waiting.
func TestKilledCgroupEmpties(t *testing.T) {
	r, m := newRun(config.EP{Grace: time.Second, ExitBase: 128})
	dir := t.TempDir()
	events := func(s string) {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.events"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	events("populated 1\nfrozen 0\n")
	r.Spec.Cgroup = &Cgroup{Path: dir, m: m}
	r.Start()
	r.Exited(Status{Pid: r.Leader})
	if !r.Ended() {
		t.Fatal("a leader that exited by itself waits for its daemons")
	}
	r.Start()
	r.Stop(syscall.SIGTERM)
	r.Expire()
	r.Exited(killed(syscall.SIGKILL))
	if r.Ended() {
		t.Fatal("ended while the killed cgroup is populated")
	}
	if m.Count("write "+filepath.Join(dir, "cgroup.kill")+" 1") != 1 {
		t.Errorf("cgroup not killed: %q", m.Calls())
	}
	events("populated 0\nfrozen 0\n")
	if !r.Ended() {
		t.Error("not ended once the cgroup is empty")
	}
	events("populated 1\nfrozen 0\n")
	if r.Abandon(); !r.Ended() {
		t.Error("not ended after Abandon")
	}
}
