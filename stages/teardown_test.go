package stages

import (
	"io"
	"os"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/stageinit/stageinit/kmsg"
	"github.com/stageinit/stageinit/machine"
)

// children starts n real children through r that run argv.
func children(t *testing.T, r *Reaper, n int, argv ...string) []int {
	t.Helper()
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	fd := devnull.Fd()
	var pids []int
	for i := 0; i < n; i++ {
		pid, _, err := r.Start(func() (int, error) { return spawn(Spec{Argv: argv, Files: [3]uintptr{fd, fd, fd}}) })
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	t.Cleanup(func() {
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		for _, none := r.Reap(); !none; _, none = r.Reap() {
			time.Sleep(time.Millisecond)
		}
	})
	return pids
}

// TestTeardownSequence: TERM and CONT to all, a wait that ends as soon as
// the children have gone (well before the grace period), no KILL, sync.
func TestTeardownSequence(t *testing.T) {
	m := &machine.Fake{}
	r := &Reaper{}
	children(t, r, 3, "/bin/sleep", "0.3")
	td := &Teardown{M: m, Reaper: r, Log: kmsg.NewLogger(io.Discard, false), Grace: 5 * time.Second}
	begin := time.Now()
	td.Run()
	el := time.Since(begin)
	if want := []string{"kill -1 terminated", "kill -1 continued", "sync"}; !reflect.DeepEqual(m.Calls(), want) {
		t.Errorf("calls %q, want %q", m.Calls(), want)
	}
	if el < 250*time.Millisecond || el > 3*time.Second {
		t.Errorf("teardown took %v: it must wait for the children (0.3 s), not for the grace period (5 s)", el)
	}
}

type hungSync struct{ *machine.Fake }

func (hungSync) Sync() { time.Sleep(time.Hour) } // a hung NFS server

// TestTeardownKillAndSyncDeadline: children that outlive the grace period
// get KILL, and a sync that never returns does not hold teardown.
func TestTeardownKillAndSyncDeadline(t *testing.T) {
	m := &machine.Fake{}
	r := &Reaper{}
	children(t, r, 2, "/bin/sleep", "30") // the fake does not deliver TERM
	td := &Teardown{M: hungSync{m}, Reaper: r, Log: kmsg.NewLogger(io.Discard, false), Grace: 50 * time.Millisecond,
		SyncDeadline: 50 * time.Millisecond, ReapDeadline: 50 * time.Millisecond}
	done := make(chan struct{})
	go func() { td.Run(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("teardown blocked on sync")
	}
	if want := []string{"kill -1 terminated", "kill -1 continued", "kill -1 killed"}; !reflect.DeepEqual(m.Calls(), want) {
		t.Errorf("calls %q, want %q", m.Calls(), want)
	}
}
