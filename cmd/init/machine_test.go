package main

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stageinit/stageinit/console"
	"github.com/stageinit/stageinit/kmsg"
	"github.com/stageinit/stageinit/machine"
	"github.com/stageinit/stageinit/stages"
	"golang.org/x/sys/unix"
)

// newTestLifecycle is the machine lifecycle on a fake machine, with dir as
// the root of its control files and stages that write their environment
// to dir/NAME.env.
func newTestLifecycle(t *testing.T, m *machine.Fake, dir string) *lifecycle {
	t.Helper()
	log := kmsg.NewLogger(io.Discard, false)
	reaper := &stages.Reaper{}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() { // Reaper.Run would reap every child of the test process, for ever
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
				reaper.Reap()
			}
		}
	}()
	dev := filepath.Join(dir, "dev")
	os.MkdirAll(filepath.Join(dir, "proc"), 0o755)
	os.MkdirAll(dev, 0o755)
	for _, f := range []string{"null", "console", "kmsg"} {
		must(t, os.WriteFile(filepath.Join(dev, f), nil, 0o644))
	}
	must(t, os.WriteFile(filepath.Join(dir, "proc/cmdline"), []byte("console=ttyS0\n"), 0o644))
	streams, _ := console.Open(dev)
	env := func(name string) stages.Spec {
		return stages.Spec{Name: name, Argv: []string{"/bin/sh", "-c", "env > " + dir + "/" + name + ".env"}}
	}
	return &lifecycle{m: m, log: log, streams: streams, root: dir,
		runner: &stages.Runner{Reaper: reaper, M: m, Log: log, EP: readEP(log)},
		down:   &stages.Teardown{M: m, Reaper: reaper, Log: log, Grace: time.Second},
		boot:   env("boot"), reboot: env("reboot"), dog: &dog{log: log}}
}

func readEnv(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLifecycleKexecLoadsBeforeTeardown(t *testing.T) {
	m := &machine.Fake{}
	dir := t.TempDir()
	l := newTestLifecycle(t, m, dir)
	must(t, os.WriteFile(dir+"/kernel", []byte("K"), 0o644))
	if f := l.round(); f != kexecJump {
		t.Fatalf("final %v", f)
	}
	want := []string{"kexec " + dir + `/kernel none "console=ttyS0 panic=10"`, "kill -1 terminated", "kill -1 continued", "sync", "reboot 0x45584543"}
	if got := m.Calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	if env := readEnv(t, dir+"/reboot.env"); !strings.Contains(env, "INIT_BOOT_STATUS=0") || !strings.Contains(env, "INIT_SHUTDOWN=reboot") {
		t.Errorf("reboot stage env lacks status/shutdown:\n%s", env)
	}
}

func TestLifecycleKexecFailure(t *testing.T) {
	m := &machine.Fake{Fail: map[string]error{"kexec": unix.ENOEXEC}}
	dir := t.TempDir()
	l := newTestLifecycle(t, m, dir)
	must(t, os.WriteFile(dir+"/kernel", []byte("K"), 0o644))
	if f := l.round(); f != softRestart {
		t.Fatalf("final %v, want soft restart", f)
	}
	want := []string{"kexec " + dir + `/kernel none "console=ttyS0 panic=10"`, "kill -1 terminated", "kill -1 continued", "sync"}
	if got := m.Calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	if _, err := os.Stat(dir + "/kernel.failed"); err != nil {
		t.Errorf("/kernel not renamed: %v", err)
	}
	l.round()
	if env := readEnv(t, dir+"/boot.env"); !strings.Contains(env, "INIT_KEXEC_ERROR=kexec_file_load "+dir+"/kernel: exec format error") {
		t.Errorf("next boot stage lacks INIT_KEXEC_ERROR:\n%s", env)
	}
	l.round()
	if env := readEnv(t, dir+"/boot.env"); strings.Contains(env, "INIT_KEXEC_ERROR") {
		t.Errorf("INIT_KEXEC_ERROR given to a later round too")
	}
}

func TestLifecycleRequestBeforeBoot(t *testing.T) {
	m := &machine.Fake{Deliver: true}
	l := newTestLifecycle(t, m, t.TempDir())
	l.boot.Argv = []string{"/bin/sleep", "30"}
	l.runner.Request(stages.PoweroffRequest) // e.g. during the pause before a soft restart
	begin := time.Now()
	if f := l.round(); f != powerOff {
		t.Fatalf("final %v", f)
	}
	if time.Since(begin) > 5*time.Second {
		t.Error("boot stage not stopped by the earlier request")
	}
	l.boot.Argv = []string{"/bin/true"}
	if f := l.round(); f != softRestart {
		t.Errorf("request carried into the next round: %v", f)
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
		req     stages.Action
		files   []string
		microVM bool
		want    final
	}{
		{0, nil, false, softRestart},
		{stages.RebootRequest, nil, false, softRestart},
		{stages.RebootRequest, []string{"/reboot"}, false, coldReboot},
		{stages.RebootRequest, []string{"/kernel"}, false, kexecJump},
		{0, []string{"/kernel", "/reboot"}, false, coldReboot},
		{0, []string{"/poweroff", "/reboot", "/kernel"}, false, powerOff},
		{stages.HaltRequest, []string{"/reboot", "/kernel"}, false, halt},
		{stages.PoweroffRequest, []string{"/reboot"}, false, powerOff},
		{0, nil, true, powerOff},
		{stages.HaltRequest, nil, true, halt},
		{stages.RebootRequest, []string{"/kernel"}, true, powerOff},
	} {
		if got := decide(tc.req, files(tc.files...), tc.microVM); got != tc.want {
			t.Errorf("decide(%v, %v, %v) = %v, want %v", tc.req, tc.files, tc.microVM, got, tc.want)
		}
	}
	if !(stages.PoweroffRequest > stages.HaltRequest && stages.HaltRequest > stages.RebootRequest && stages.RebootRequest > 0) {
		t.Error("strength order is poweroff > halt > reboot")
	}
}

// TestBootCommand: the microVM command is the cmdline's words after "--"
// only when init got them as its last arguments.
func TestBootCommand(t *testing.T) {
	for _, tc := range []struct {
		name          string
		args, cmdline []string
		want          []string
		verbose       bool
	}{
		{"initramfs", nil, nil, nil, false},
		{"microVM", []string{"/bin/app", "one", "two words"}, []string{"/bin/app", "one", "two words"}, []string{"/bin/app", "one", "two words"}, false},
		{"microVM, stray words and -v before", []string{"splash", "-v", "/bin/app", "-x"}, []string{"/bin/app", "-x"}, []string{"/bin/app", "-x"}, true},
		{"-v only in the command", []string{"/bin/app", "-v"}, []string{"/bin/app", "-v"}, []string{"/bin/app", "-v"}, false},
		{"the host's -- in a container", nil, []string{"--firecracker-init", "--addr", "0.0.0.0:2024"}, nil, false},
		{"other args than the cmdline's", []string{"--agent"}, []string{"--agent", "--port", "2024"}, nil, false},
		{"-- among init's arguments", []string{"-v", "--", "/bin/app"}, []string{"x"}, []string{"/bin/app"}, true},
	} {
		got, verbose := bootCommand(tc.args, tc.cmdline)
		if !reflect.DeepEqual(got, tc.want) || verbose != tc.verbose {
			t.Errorf("%s: bootCommand(%q, %q) = %q, %v; want %q, %v", tc.name, tc.args, tc.cmdline, got, verbose, tc.want, tc.verbose)
		}
	}
}

// TestPause: 1 s between rounds; boot stages that fail or end within 1 s
// in a row back off 1, 2, 4 ... 60 s; a boot stage that ran resets it.
func TestPause(t *testing.T) {
	l := &lifecycle{log: kmsg.NewLogger(io.Discard, false)}
	var got []time.Duration
	for _, quick := range []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 0} {
		l.quick = quick
		got = append(got, l.pause())
	}
	s := time.Second
	want := []time.Duration{s, s, 2 * s, 4 * s, 8 * s, 16 * s, 32 * s, 60 * s, 60 * s, s}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("pauses %v, want %v", got, want)
	}
}

// TestLifecycleCountsQuickRounds: a missing boot stage counts as a quick
// round, one that runs longer than a second resets the count.
func TestLifecycleCountsQuickRounds(t *testing.T) {
	l := newTestLifecycle(t, &machine.Fake{}, t.TempDir())
	l.boot.Argv = []string{"/nonexistent"}
	l.round()
	l.round()
	if l.quick != 2 {
		t.Errorf("quick rounds %d, want 2", l.quick)
	}
	l.boot.Argv = []string{"/bin/sleep", "1.1"}
	l.round()
	if l.quick != 0 {
		t.Errorf("quick rounds %d after a boot stage that ran, want 0", l.quick)
	}
}
