package stages

import (
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stageinit/stageinit/kmsg"
)

// fakeMachine records the lifecycle's side effects in order.
type fakeMachine struct {
	mu     sync.Mutex
	events []string
	files  map[string]bool
	load   error
}

func (m *fakeMachine) add(e string) { m.mu.Lock(); m.events = append(m.events, e); m.mu.Unlock() }

func newTestLifecycle(t *testing.T, m *fakeMachine, dir string) *Lifecycle {
	t.Helper()
	log := kmsg.NewLogger(io.Discard, false)
	reaper := &Reaper{}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go reapLoop(reaper, stop)
	devnull, _ := os.Open(os.DevNull)
	t.Cleanup(func() { devnull.Close() })
	env := func(name string) Spec {
		return Spec{Name: name, Argv: []string{"/bin/sh", "-c", "env > " + dir + "/" + name + ".env"}}
	}
	return &Lifecycle{
		Runner: &Runner{Reaper: reaper, Log: log, Policy: Policy{Grace: time.Second, ExitBase: 128}},
		Teardown: &Teardown{Reaper: reaper, Log: log, Grace: time.Second, Getpid: func() int { return 1 },
			Left: func() bool { return false },
			Kill: func(pid int, sig syscall.Signal) error {
				m.add("kill " + sig.String())
				return nil
			},
			Sync: func() { m.add("sync") }},
		Log:    log,
		Boot:   env("boot"),
		Reboot: env("reboot"),
		Stdio: func(string) ([3]uintptr, func(int), func(), error) {
			fd := devnull.Fd()
			return [3]uintptr{fd, fd, fd}, func(int) {}, func() {}, nil
		},
		Exists:      func(p string) bool { return m.files[p] },
		Load:        func() error { m.add("load"); return m.load },
		KexecFailed: func() { m.add("kexec failed") },
		Power:       func(f Final) { m.add("power " + f.String()) },
	}
}

func readEnv(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLifecycleKexecLoadsBeforeTeardown(t *testing.T) {
	m := &fakeMachine{files: map[string]bool{"/kernel": true}}
	dir := t.TempDir()
	l := newTestLifecycle(t, m, dir)
	if f := l.Round(); f != Kexec {
		t.Fatalf("final %v", f)
	}
	want := "load,kill terminated,kill continued,sync,power kexec"
	if got := strings.Join(m.events, ","); got != want {
		t.Errorf("events %s, want %s", got, want)
	}
	if env := readEnv(t, dir+"/reboot.env"); !strings.Contains(env, "INIT_BOOT_STATUS=0") || !strings.Contains(env, "INIT_SHUTDOWN=reboot") {
		t.Errorf("reboot stage env lacks status/shutdown:\n%s", env)
	}
}

func TestLifecycleKexecFailure(t *testing.T) {
	m := &fakeMachine{files: map[string]bool{"/kernel": true},
		load: errors.New("kexec_file_load /kernel: exec format error (not a bootable kernel image, or truncated)")}
	dir := t.TempDir()
	l := newTestLifecycle(t, m, dir)
	if f := l.Round(); f != SoftRestart {
		t.Fatalf("final %v, want soft restart", f)
	}
	want := "load,kexec failed,kill terminated,kill continued,sync"
	if got := strings.Join(m.events, ","); got != want {
		t.Errorf("events %s, want %s", got, want)
	}
	m.files = map[string]bool{}
	l.Round()
	if env := readEnv(t, dir+"/boot.env"); !strings.Contains(env, "INIT_KEXEC_ERROR=kexec_file_load /kernel: exec format error") {
		t.Errorf("next boot stage lacks INIT_KEXEC_ERROR:\n%s", env)
	}
	l.Round()
	if env := readEnv(t, dir+"/boot.env"); strings.Contains(env, "INIT_KEXEC_ERROR") {
		t.Errorf("INIT_KEXEC_ERROR given to a later round too")
	}
}

func TestLifecycleRequestBeforeBoot(t *testing.T) {
	m := &fakeMachine{files: map[string]bool{}}
	l := newTestLifecycle(t, m, t.TempDir())
	l.Boot.Argv = []string{"/bin/sleep", "30"}
	l.Request(Poweroff) // e.g. during the pause before a soft restart
	begin := time.Now()
	if f := l.Round(); f != PoweroffFinal {
		t.Fatalf("final %v", f)
	}
	if time.Since(begin) > 5*time.Second {
		t.Error("boot stage not stopped by the earlier request")
	}
	l.Boot.Argv = []string{"/bin/true"}
	if f := l.Round(); f != SoftRestart {
		t.Errorf("request carried into the next round: %v", f)
	}
}
