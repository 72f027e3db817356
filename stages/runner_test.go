package stages

import (
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/stageinit/stageinit/config"
	"github.com/stageinit/stageinit/kmsg"
	"github.com/stageinit/stageinit/machine"
)

// reapLoop stands in for Reaper.Run, which a test cannot stop: it would
// reap every child of the test process.
func reapLoop(r *Reaper, stop chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(2 * time.Millisecond):
			r.Reap()
		}
	}
}

// TestGraceArmedOnce: the grace timer starts at the first Stop; later Stops
// neither re-arm nor extend it, and at expiry the group gets SIGKILL.
func TestGraceArmedOnce(t *testing.T) {
	k := &machine.Fake{Deliver: true}
	r := &Runner{Reaper: &Reaper{}, Log: kmsg.NewLogger(io.Discard, false), M: k,
		EP: config.EP{Grace: 600 * time.Millisecond, ExitBase: 128}}
	stop := make(chan struct{})
	defer close(stop)
	go reapLoop(r.Reaper, stop)
	started := make(chan int, 1)
	done := make(chan Result, 1)
	go func() {
		done <- r.Run(Spec{Name: "t", Argv: []string{"/bin/sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"},
			Files: [3]uintptr{0, 1, 2}, Started: func(pid int) { started <- pid }})
	}()
	pid := <-started
	started <- pid
	time.Sleep(100 * time.Millisecond)
	begin := time.Now()
	r.Stop(syscall.SIGTERM)
	for i := 0; i < 4; i++ {
		time.Sleep(100 * time.Millisecond)
		r.Stop(syscall.SIGTERM) // must not extend the deadline
	}
	select {
	case res := <-done:
		if code := res.Code(128); code != 137 {
			t.Errorf("code %d, want 137", code)
		}
		if el := time.Since(begin); el > 2*time.Second {
			t.Errorf("SIGKILL came %v after the first stop: timer was re-armed", el)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stage not killed at the grace period")
	}
	pgid := <-started
	if n := k.Count(fmt.Sprintf("kill %d killed", -pgid)); n != 1 {
		t.Errorf("%d SIGKILLs, want 1: %q", n, k.Calls())
	}
	if n := k.Count(fmt.Sprintf("kill %d terminated", -pgid)); n != 5 {
		t.Errorf("%d SIGTERMs forwarded, want 5: %q", n, k.Calls())
	}
}

// TestStopBeforeStart: a Stop that arrives before the leader exists is
// applied to it as soon as it started.
func TestStopBeforeStart(t *testing.T) {
	r := &Runner{Reaper: &Reaper{}, Log: kmsg.NewLogger(io.Discard, false), M: &machine.Fake{Deliver: true},
		EP: config.EP{Grace: 10 * time.Second, ExitBase: 128, Restart: true}}
	stop := make(chan struct{})
	defer close(stop)
	go reapLoop(r.Reaper, stop)
	r.Stop(syscall.SIGTERM)
	res := r.Run(Spec{Name: "t", Argv: []string{"/bin/sleep", "30"}, Files: [3]uintptr{0, 1, 2}})
	if code := res.Code(128); code != 143 || res.Restarts != 0 {
		t.Errorf("code %d restarts %d, want 143 and none", code, res.Restarts)
	}
}
