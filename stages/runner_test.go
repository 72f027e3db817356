package stages

import (
	"io"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stageinit/stageinit/kmsg"
)

type killLog struct {
	mu    sync.Mutex
	calls []string
}

func (k *killLog) kill(pid int, sig syscall.Signal) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls = append(k.calls, itoa(pid)+" "+sig.String())
	return syscall.Kill(pid, sig)
}

func (k *killLog) count(sig syscall.Signal) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, c := range k.calls {
		if len(c) > 0 && c[len(c)-len(sig.String()):] == sig.String() {
			n++
		}
	}
	return n
}

func itoa(n int) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// reapLoop stands in for the SIGCHLD loop of cmd/init.
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
	k := &killLog{}
	r := &Runner{Reaper: &Reaper{}, Log: kmsg.NewLogger(io.Discard, false), Kill: k.kill,
		Policy: Policy{Grace: 600 * time.Millisecond, ExitBase: 128}}
	stop := make(chan struct{})
	defer close(stop)
	go reapLoop(r.Reaper, stop)
	started := make(chan int, 1)
	r.OnStart = func(pid int) { started <- pid }
	done := make(chan Result, 1)
	go func() {
		done <- r.Run(Spec{Name: "t", Argv: []string{"/bin/sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"},
			Files: [3]uintptr{0, 1, 2}})
	}()
	<-started
	time.Sleep(100 * time.Millisecond)
	begin := time.Now()
	r.Stop(syscall.SIGTERM)
	for i := 0; i < 4; i++ {
		time.Sleep(100 * time.Millisecond)
		r.Stop(syscall.SIGTERM) // must not extend the deadline
	}
	select {
	case res := <-done:
		if res.Code != 137 {
			t.Errorf("code %d, want 137", res.Code)
		}
		if el := time.Since(begin); el > 2*time.Second {
			t.Errorf("SIGKILL came %v after the first stop: timer was re-armed", el)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stage not killed at the grace period")
	}
	if n := k.count(syscall.SIGKILL); n != 1 {
		t.Errorf("%d SIGKILLs, want 1", n)
	}
	if n := k.count(syscall.SIGTERM); n != 5 {
		t.Errorf("%d SIGTERMs forwarded, want 5", n)
	}
}

// TestStopBeforeStart: a Stop that arrives before the leader exists is
// applied to it as soon as it started.
func TestStopBeforeStart(t *testing.T) {
	r := &Runner{Reaper: &Reaper{}, Log: kmsg.NewLogger(io.Discard, false),
		Policy: Policy{Grace: 10 * time.Second, ExitBase: 128, Restart: true}}
	stop := make(chan struct{})
	defer close(stop)
	go reapLoop(r.Reaper, stop)
	r.Stop(syscall.SIGTERM)
	res := r.Run(Spec{Name: "t", Argv: []string{"/bin/sleep", "30"}, Files: [3]uintptr{0, 1, 2}})
	if res.Code != 143 || res.Restarts != 0 {
		t.Errorf("code %d restarts %d, want 143 and none", res.Code, res.Restarts)
	}
}

func TestDecide(t *testing.T) {
	files := func(names ...string) func(string) bool {
		return func(p string) bool {
			for _, n := range names {
				if n == p {
					return true
				}
			}
			return false
		}
	}
	for _, tc := range []struct {
		req     Action
		files   []string
		microVM bool
		want    Final
	}{
		{0, nil, false, SoftRestart},
		{Reboot, nil, false, SoftRestart},
		{Reboot, []string{"/reboot"}, false, ColdReboot},
		{Reboot, []string{"/kernel"}, false, Kexec},
		{0, []string{"/kernel", "/reboot"}, false, ColdReboot},
		{0, []string{"/poweroff", "/reboot", "/kernel"}, false, PoweroffFinal},
		{Halt, []string{"/reboot", "/kernel"}, false, HaltFinal},
		{Poweroff, []string{"/reboot"}, false, PoweroffFinal},
		{0, nil, true, PoweroffFinal},
		{Halt, nil, true, HaltFinal},
		{Reboot, []string{"/kernel"}, true, PoweroffFinal},
	} {
		if got := Decide(tc.req, files(tc.files...), tc.microVM); got != tc.want {
			t.Errorf("Decide(%v, %v, %v) = %v, want %v", tc.req, tc.files, tc.microVM, got, tc.want)
		}
	}
	if !Stronger(Poweroff, Halt) || !Stronger(Halt, Reboot) || Stronger(Reboot, Halt) || !Stronger(Reboot, 0) {
		t.Error("strength order is poweroff > halt > reboot")
	}
}

func TestTeardownOnlyPID1(t *testing.T) {
	var calls []string
	td := &Teardown{Reaper: &Reaper{}, Log: kmsg.NewLogger(io.Discard, false), Grace: time.Second,
		Getpid: func() int { return 4242 },
		Kill:   func(pid int, sig syscall.Signal) error { calls = append(calls, sig.String()); return nil },
		Sync:   func() { calls = append(calls, "sync") }}
	td.Run()
	if len(calls) != 0 {
		t.Errorf("teardown outside pid 1 made calls %v", calls)
	}
}

func TestTeardownSequence(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	alive := 3 // processes are left 3 times, then none
	td := &Teardown{Reaper: &Reaper{}, Log: kmsg.NewLogger(io.Discard, false), Grace: 5 * time.Second,
		Getpid: func() int { return 1 },
		Left:   func() bool { mu.Lock(); defer mu.Unlock(); alive--; return alive >= 0 },
		Kill: func(pid int, sig syscall.Signal) error {
			mu.Lock()
			defer mu.Unlock()
			if pid != -1 {
				t.Errorf("kill(%d) in teardown", pid)
			}
			calls = append(calls, sig.String())
			return nil
		},
		Sync: func() { mu.Lock(); calls = append(calls, "sync"); mu.Unlock() }}
	begin := time.Now()
	td.Run()
	want := []string{"terminated", "continued", "sync"}
	if len(calls) != len(want) {
		t.Fatalf("calls %v, want %v", calls, want)
	}
	for i := range want {
		if calls[i] != want[i] {
			t.Errorf("call %d = %s, want %s", i, calls[i], want[i])
		}
	}
	if alive != -1 {
		t.Errorf("teardown stopped asking after %d answers, want 4", 3-alive)
	}
	if time.Since(begin) > 3*time.Second {
		t.Errorf("teardown waited for the grace period although nothing was left")
	}
}

func TestTeardownKillAndSyncDeadline(t *testing.T) {
	var calls []string
	td := &Teardown{Reaper: &Reaper{}, Log: kmsg.NewLogger(io.Discard, false), Grace: 50 * time.Millisecond,
		SyncDeadline: 50 * time.Millisecond, ReapDeadline: 50 * time.Millisecond,
		Getpid: func() int { return 1 },
		Left:   func() bool { return true }, // never gone
		Kill: func(pid int, sig syscall.Signal) error {
			calls = append(calls, sig.String())
			return nil
		},
		Sync: func() { time.Sleep(time.Hour) }} // a hung NFS
	done := make(chan struct{})
	go func() { td.Run(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("teardown blocked on sync")
	}
	if len(calls) != 3 || calls[2] != "killed" {
		t.Errorf("calls %v, want TERM, CONT, KILL", calls)
	}
}
