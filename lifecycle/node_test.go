package lifecycle

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stageinit/stageinit/config"
	"github.com/stageinit/stageinit/console"
	"github.com/stageinit/stageinit/hardware"
	"github.com/stageinit/stageinit/kmsg"
	"github.com/stageinit/stageinit/machine/machinetest"
	"github.com/stageinit/stageinit/stages"
	"golang.org/x/sys/unix"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// newTestNode is the machine lifecycle on a fake machine, with dir as the
// root of its control files. Its stages are never really started: the
// test is the event source and says when a leader exits.
func newTestNode(t *testing.T, m *machinetest.Fake, dir string) *node {
	t.Helper()
	log := kmsg.NewLogger(io.Discard, false, nil)
	dev := filepath.Join(dir, "dev")
	os.MkdirAll(filepath.Join(dir, "proc"), 0o755)
	os.MkdirAll(dev, 0o755)
	for _, f := range []string{"null", "console", "kmsg"} {
		must(t, os.WriteFile(filepath.Join(dev, f), nil, 0o644))
	}
	must(t, os.WriteFile(filepath.Join(dir, "proc/cmdline"), []byte("console=ttyS0\n"), 0o644))
	os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
	must(t, os.WriteFile(filepath.Join(dir, "etc/reboot"), nil, 0o755))
	streams, _ := console.Open(dev)
	ep := config.EP{Grace: time.Second, ExitBase: 128, Backoff: time.Second}
	n := &node{loop: newLoop(m, log, ep, stages.MachineTable(nil)), streams: streams, files: filesIn(dir),
		boot:   stages.Spec{Name: "boot", Argv: []string{"/etc/boot"}},
		reboot: stages.Spec{Name: "reboot", Argv: []string{dir + "/etc/reboot"}, NoRestart: true},
		dog:    &hardware.Watchdog{M: m, Log: log},
		hist:   history{gen: 1, reason: "poweron", start: time.Now(), dir: filepath.Join(dir, "run")}}
	n.node = n
	return n
}

// filesIn is the node's control files under dir.
func filesIn(dir string) files {
	f := nodeFiles
	for _, p := range []*string{&f.poweroff, &f.reboot, &f.pmsg, &f.kexec.Kernel, &f.kexec.Initrd, &f.kexec.Cmdline,
		&f.kexec.ProcCmdline, &f.kexec.Keys, &f.rescue, &f.sys, &f.dev} {
		*p = dir + *p
	}
	return f
}

// calls are the fake's calls with the kexec load's time in milliseconds
// as MS.
func calls(m *machinetest.Fake) []string {
	c := m.Calls()
	for i := range c {
		c[i] = regexp.MustCompile(`stageinit.jump=\d+`).ReplaceAllString(c[i], "stageinit.jump=MS")
	}
	return c
}

// exitLeader delivers the exit of the running leader and lets its relay
// drain.
func exitLeader(t *testing.T, n *node, ws unix.WaitStatus) {
	t.Helper()
	if n.run == nil || n.run.Leader == 0 {
		t.Fatalf("no leader runs (phase %v)", n.phase)
	}
	n.exit(stages.Status{Pid: n.run.Leader, WS: ws})
	drain(t, n)
}

func drain(t *testing.T, n *node) {
	t.Helper()
	if n.drain != nil {
		select {
		case <-n.drain:
		case <-time.After(time.Second):
			t.Fatal("relay did not drain")
		}
		n.drained()
	}
}

// settle hands the loop the work done off it (kexec load, sync) until
// the round is over.
func settle(t *testing.T, n *node) {
	t.Helper()
	for n.phase == loading || n.phase == syncing {
		select {
		case w := <-n.results:
			n.worked(w)
		case <-time.After(5 * time.Second):
			t.Fatalf("no result in phase %v", n.phase)
		}
	}
}

// round runs a whole round whose stages exit 0.
func round(t *testing.T, n *node) {
	t.Helper()
	n.startRound()
	exitLeader(t, n, 0)
	exitLeader(t, n, 0)
	settle(t, n)
}

func env(t *testing.T, m *machinetest.Fake, i int) string {
	t.Helper()
	s := m.Spawned()
	if i < 0 {
		i += len(s)
	}
	return strings.Join(s[i].Env, "\n")
}

func TestLifecycleKexecLoadsBeforeTeardown(t *testing.T) {
	m := &machinetest.Fake{}
	dir := t.TempDir()
	n := newTestNode(t, m, dir)
	must(t, os.WriteFile(dir+"/kernel", []byte("K"), 0o644))
	if round(t, n); n.final != kexecJump {
		t.Fatalf("final %v", n.final)
	}
	want := []string{"kexec " + dir + `/kernel none "console=ttyS0 panic=10 stageinit.gen=1 stageinit.prev=none:boot-stage stageinit.jump=MS"`,
		"kill -1 terminated", "kill -1 continued", "sync", "reboot 0x45584543"}
	if got := calls(m); !reflect.DeepEqual(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	if e := env(t, m, 1); !strings.Contains(e, "INIT_BOOT_STATUS=0") || !strings.Contains(e, "INIT_SHUTDOWN=reboot") {
		t.Errorf("reboot stage env lacks status/shutdown:\n%s", e)
	}
}

func TestLifecycleKexecFailure(t *testing.T) {
	m := &machinetest.Fake{Fail: map[string]error{"kexec": unix.ENOEXEC}}
	dir := t.TempDir()
	n := newTestNode(t, m, dir)
	must(t, os.WriteFile(dir+"/kernel", []byte("K"), 0o644))
	if round(t, n); n.final != softRestart {
		t.Fatalf("final %v, want soft restart", n.final)
	}
	want := []string{"kexec " + dir + `/kernel none "console=ttyS0 panic=10 stageinit.gen=1 stageinit.prev=none:boot-stage stageinit.jump=MS"`,
		"kill -1 terminated", "kill -1 continued", "sync"}
	if got := calls(m); !reflect.DeepEqual(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	if _, err := os.Stat(dir + "/kernel.failed"); err != nil {
		t.Errorf("/kernel not renamed: %v", err)
	}
	round(t, n)
	if e := env(t, m, -2); !strings.Contains(e, "INIT_KEXEC_ERROR=kexec_file_load "+dir+"/kernel: exec format error") {
		t.Errorf("next boot stage lacks INIT_KEXEC_ERROR:\n%s", e)
	}
	round(t, n)
	if e := env(t, m, -2); strings.Contains(e, "INIT_KEXEC_ERROR") {
		t.Errorf("INIT_KEXEC_ERROR given to a later round too")
	}
}

// TestLifecycleRequestBeforeBoot: a request in the pause between rounds
// starts the next round at once and stops its boot stage at once; it is
// not carried into the round after.
func TestLifecycleRequestBeforeBoot(t *testing.T) {
	m := &machinetest.Fake{}
	n := newTestNode(t, m, t.TempDir())
	n.phase, n.at[pauseTimer] = pausing, time.Now().Add(time.Hour)
	n.request(stages.PoweroffRequest, "SIGUSR2")
	if n.phase != booting || !n.at[pauseTimer].IsZero() {
		t.Fatalf("phase %v, pause %v: the request did not start the round", n.phase, n.at[pauseTimer])
	}
	pgid := n.run.Leader
	if !slices.Contains(m.Calls(), "kill -"+strconv.Itoa(pgid)+" terminated") || n.run.Grace.IsZero() {
		t.Errorf("boot stage not stopped by the earlier request: %q", m.Calls())
	}
	exitLeader(t, n, unix.WaitStatus(syscall.SIGTERM))
	exitLeader(t, n, 0)
	settle(t, n)
	if n.final != powerOff {
		t.Fatalf("final %v", n.final)
	}
	if round(t, n); n.final != softRestart {
		t.Errorf("request carried into the next round: %v", n.final)
	}
}

func TestDecide(t *testing.T) {
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
		dir := t.TempDir()
		n := &node{files: filesIn(dir), req: tc.req, microVM: tc.microVM}
		for _, f := range tc.files {
			must(t, os.WriteFile(dir+f, nil, 0o644))
		}
		if got := n.decide(); got != tc.want {
			t.Errorf("decide(%v, %v, %v) = %v, want %v", tc.req, tc.files, tc.microVM, got, tc.want)
		}
	}
	if !(stages.PoweroffRequest > stages.HaltRequest && stages.HaltRequest > stages.RebootRequest && stages.RebootRequest > 0) {
		t.Error("strength order is poweroff > halt > restart")
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
	n := &node{loop: loop{log: kmsg.NewLogger(io.Discard, false, nil)}}
	var got []time.Duration
	for _, quick := range []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 0} {
		n.quick = quick
		got = append(got, n.pause())
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
	m := &machinetest.Fake{Fail: map[string]error{"spawn /nonexistent": unix.ENOENT}}
	n := newTestNode(t, m, t.TempDir())
	n.boot.Argv = []string{"/nonexistent"}
	for i := 0; i < 2; i++ {
		n.startRound()
		drain(t, n)
		exitLeader(t, n, 0)
		settle(t, n)
	}
	if n.quick != 2 {
		t.Errorf("quick rounds %d, want 2", n.quick)
	}
	if !strings.Contains(env(t, m, -1), "INIT_BOOT_STATUS=127") {
		t.Errorf("reboot stage after a missing boot stage: %s", env(t, m, -1))
	}
	n.boot.Argv = []string{"/bin/sleep"}
	n.startRound()
	n.run.Begin = time.Now().Add(-1100 * time.Millisecond)
	exitLeader(t, n, 0)
	exitLeader(t, n, 0)
	settle(t, n)
	if n.quick != 0 {
		t.Errorf("quick rounds %d after a boot stage that ran, want 0", n.quick)
	}
}

// TestPoweroffDuringKexec: a poweroff asked for while the kernel loads is
// carried out instead of the kexec.
func TestPoweroffDuringKexec(t *testing.T) {
	m := &machinetest.Fake{}
	dir := t.TempDir()
	n := newTestNode(t, m, dir)
	must(t, os.WriteFile(dir+"/kernel", []byte("K"), 0o644))
	n.startRound()
	exitLeader(t, n, 0)
	exitLeader(t, n, 0)
	if n.phase != loading {
		t.Fatalf("phase %v, want loading", phaseNames[n.phase])
	}
	n.request(stages.PoweroffRequest, "power button /dev/input/event0")
	settle(t, n)
	if c := m.Calls(); n.final != powerOff || c[len(c)-1] != "reboot 0x4321fedc" {
		t.Errorf("final %v, calls %q: want a poweroff", n.final, c)
	}
}

// TestNoRebootStage: a node without /etc/reboot goes from the boot stage
// to the final action, and says so once a boot, at info; an /etc/reboot
// that is there but cannot run is an error, as any stage.
func TestNoRebootStage(t *testing.T) {
	dir := t.TempDir()
	m := &machinetest.Fake{Fail: map[string]error{"spawn " + dir + "/etc/reboot": unix.EACCES}}
	n := newTestNode(t, m, dir)
	var out lines
	n.log = kmsg.NewLogger(&out, true, nil)
	n.reboot.Argv = []string{"/nowhere/reboot"}
	for i := 0; i < 2; i++ {
		n.startRound()
		exitLeader(t, n, 0)
		settle(t, n)
	}
	if s := m.Spawned(); len(s) != 2 || s[1].Argv[0] != "/etc/boot" {
		t.Errorf("spawns %v, want two boot stages", s)
	}
	if text := out.read(n.log); strings.Count(text, "<6>init: reboot: no /nowhere/reboot: nothing runs") != 1 || strings.Contains(text, "<3>") {
		t.Errorf("log:\n%s", text)
	}
	n.reboot.Argv = []string{dir + "/etc/reboot"} // there, but it cannot run
	n.startRound()
	exitLeader(t, n, 0)
	drain(t, n)
	settle(t, n)
	if text := out.read(n.log); !strings.Contains(text, "<3>init: reboot: execve") {
		t.Errorf("an /etc/reboot that cannot run is not an error:\n%s", text)
	}
}

// TestKexecLoadDeadline: a load that does not end (a hung file system)
// is given up at its deadline: /kernel.failed, a soft restart, and the
// next boot stage says why; what the load says later is ignored.
func TestKexecLoadDeadline(t *testing.T) {
	m := &machinetest.Fake{Hang: make(chan struct{})}
	dir := t.TempDir()
	n := newTestNode(t, m, dir)
	must(t, os.WriteFile(dir+"/kernel", []byte("K"), 0o644))
	n.startRound()
	exitLeader(t, n, 0)
	exitLeader(t, n, 0)
	if n.phase != loading || n.at[workTimer].IsZero() {
		t.Fatalf("phase %v, deadline %v: not loading under a deadline", phaseNames[n.phase], n.at[workTimer])
	}
	n.fire(workTimer)
	if n.phase != syncing || n.final != softRestart {
		t.Fatalf("phase %v final %v after the deadline, want a soft restart on its way", phaseNames[n.phase], n.final)
	}
	close(m.Hang) // the load ends after all: its end is stale
	for stale := false; !stale || n.phase == syncing; {
		select {
		case w := <-n.results:
			stale = stale || w.seq != n.seq
			n.worked(w)
		case <-time.After(5 * time.Second):
			t.Fatalf("phase %v, the late load's end seen: %v", phaseNames[n.phase], stale)
		}
	}
	if n.phase != pausing || m.Count("reboot") != 0 {
		t.Errorf("phase %v, calls %q: want a soft restart", phaseNames[n.phase], m.Calls())
	}
	if _, err := os.Stat(dir + "/kernel.failed"); err != nil {
		t.Errorf("/kernel not renamed: %v", err)
	}
	round(t, n)
	if e := env(t, m, -2); !strings.Contains(e, "INIT_KEXEC_ERROR=load did not end within 1m0s") {
		t.Errorf("next boot stage lacks why:\n%s", e)
	}
}

// TestRebootStageDeadline: a reboot stage still running at its deadline
// gets TERM and CONT (then KILL at the grace period); the next boot stage
// and the next generation are told.
func TestRebootStageDeadline(t *testing.T) {
	m := &machinetest.Fake{}
	dir := t.TempDir()
	n := newTestNode(t, m, dir)
	n.rebootTimeout = time.Minute
	n.startRound()
	n.request(stages.RebootRequest, "SIGTERM")
	exitLeader(t, n, unix.WaitStatus(syscall.SIGTERM))
	if n.phase != rebooting || time.Until(n.at[rebootTimer]) < 59*time.Second {
		t.Fatalf("phase %v, deadline in %v", phaseNames[n.phase], time.Until(n.at[rebootTimer]))
	}
	pgid := n.run.Leader
	n.fire(rebootTimer)
	if m.Count(fmt.Sprintf("kill %d terminated", -pgid)) != 1 || n.run.Grace.IsZero() {
		t.Fatalf("reboot stage not stopped at its deadline: %q", m.Calls())
	}
	must(t, os.WriteFile(dir+"/kernel", []byte("K"), 0o644))
	exitLeader(t, n, unix.WaitStatus(syscall.SIGTERM))
	settle(t, n)
	if c := calls(m); !slices.ContainsFunc(c, func(s string) bool { return strings.Contains(s, "stageinit.prev=reboot:SIGTERM:deadline ") }) {
		t.Errorf("the next generation is not told: %q", c)
	}
	if n.hist.stopped != 1 || !strings.Contains(n.hist.metrics(0), "stageinit_reboot_stage_stopped_total 1") {
		t.Errorf("stopped %d; metrics:\n%s", n.hist.stopped, n.hist.metrics(0))
	}
	os.Remove(dir + "/kernel")
	round(t, n)
	if e := env(t, m, -2); !strings.Contains(e, "INIT_REBOOT_STOPPED=deadline") {
		t.Errorf("the next boot stage is not told:\n%s", e)
	}
	if e := env(t, m, -1); strings.Contains(e, "INIT_REBOOT_STOPPED") {
		t.Errorf("told the reboot stage too:\n%s", e)
	}
}

// TestAskedAgain: during a reboot stage run for a poweroff, a reboot
// request (weaker) is logged and changes nothing; a second poweroff
// request stops the reboot stage at once.
func TestAskedAgain(t *testing.T) {
	m := &machinetest.Fake{}
	n := newTestNode(t, m, t.TempDir())
	n.startRound()
	n.request(stages.PoweroffRequest, "power button /dev/input/event0")
	exitLeader(t, n, unix.WaitStatus(syscall.SIGTERM))
	pgid := n.run.Leader
	n.request(stages.RebootRequest, "SIGTERM")
	if m.Count(fmt.Sprintf("kill %d", -pgid)) != 0 {
		t.Fatalf("a weaker request stopped the reboot stage: %q", m.Calls())
	}
	n.request(stages.PoweroffRequest, "power button /dev/input/event0")
	if m.Count(fmt.Sprintf("kill %d terminated", -pgid)) != 1 || n.hist.cut != "request" {
		t.Fatalf("asked again, the reboot stage goes on: %q", m.Calls())
	}
	exitLeader(t, n, unix.WaitStatus(syscall.SIGTERM))
	settle(t, n)
	if c := m.Calls(); n.final != powerOff || c[len(c)-1] != "reboot 0x4321fedc" {
		t.Errorf("final %v, calls %q", n.final, c)
	}
}

// TestStuckAfterKill: a leader that does not end after SIGKILL (stuck in
// the kernel) is given up 5 s later: the round goes on.
func TestStuckAfterKill(t *testing.T) {
	m := &machinetest.Fake{}
	n := newTestNode(t, m, t.TempDir())
	n.startRound()
	n.request(stages.PoweroffRequest, "SIGUSR2")
	n.fire(graceTimer)
	if n.at[killTimer].IsZero() {
		t.Fatal("no deadline after SIGKILL")
	}
	n.fire(killTimer)
	drain(t, n)
	if n.phase != rebooting {
		t.Errorf("phase %v, want the reboot stage", phaseNames[n.phase])
	}
	if e := env(t, m, -1); !strings.Contains(e, "INIT_BOOT_STATUS=137") {
		t.Errorf("reboot stage env:\n%s", e)
	}
}

// TestMicroVMEnd: the command's status on the console, where quiet does
// not hide it; with isa-debug-exit the status byte goes to QEMU's port
// before the poweroff; with stageinit.exit=reboot the VM reboots.
func TestMicroVMEnd(t *testing.T) {
	m := &machinetest.Fake{}
	dir := t.TempDir()
	n := newTestNode(t, m, dir)
	n.microVM, n.vmExit, n.vmExitPort = true, "isa-debug-exit", 0xf4
	n.startRound()
	exitLeader(t, n, 3<<8)
	exitLeader(t, n, 0)
	settle(t, n)
	if c := m.Calls(); len(c) < 2 || c[len(c)-2] != "outb 0xf4 3" || c[len(c)-1] != "reboot 0x4321fedc" {
		t.Errorf("calls %q, want the status byte, then the poweroff", c)
	}
	n.startRound()
	exitLeader(t, n, unix.WaitStatus(syscall.SIGKILL))
	exitLeader(t, n, 0)
	settle(t, n)
	if c := m.Calls(); c[len(c)-2] != "outb 0xf4 127" {
		t.Errorf("calls %q, want 127 for a status above it", c)
	}
	console, _ := os.ReadFile(dir + "/dev/console")
	if string(console) != "stageinit: exit status 3\nstageinit: exit status 137 (killed by SIGKILL)\n" {
		t.Errorf("console %q", console)
	}
	n.vmExit, n.vmExitPort = "reboot", 0
	if n.decide() != coldReboot {
		t.Errorf("stageinit.exit=reboot: %v", n.decide())
	}
	if n.req = stages.PoweroffRequest; n.decide() != powerOff {
		t.Errorf("a poweroff request with stageinit.exit=reboot: %v", n.decide())
	}
}

// TestRescue: with stageinit.rescue the shell comes before the first boot
// stage, on the terminal behind the console, in a session of its own with
// it as its controlling terminal, and the boot stage follows its exit;
// with =onfail it comes after rescueAfter failed rounds instead of the
// longest pause, /etc/rescue when there is one, and a request stops it.
func TestRescue(t *testing.T) {
	m := &machinetest.Fake{}
	dir := t.TempDir()
	n := newTestNode(t, m, dir)
	os.MkdirAll(filepath.Join(dir, "sys/class/tty/console"), 0o755)
	must(t, os.WriteFile(filepath.Join(dir, "sys/class/tty/console/active"), []byte("tty0 ttyS0\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "dev/ttyS0"), nil, 0o644))
	n.rescue = "now"
	n.startRound()
	if s := m.Spawned(); n.phase != rescuing || len(s) != 1 || s[0].Argv[0] != "/bin/sh" || s[0].Argv[1] != "-i" {
		t.Fatalf("phase %v, spawned %+v, want the shell", phaseNames[n.phase], s)
	}
	exitLeader(t, n, 0)
	if s := m.Spawned(); n.phase != booting || len(s) != 2 || s[1].Argv[0] != "/etc/boot" {
		t.Fatalf("phase %v, spawned %+v, want the boot stage after the shell", phaseNames[n.phase], s)
	}
	if n.rescued, n.hist.gen = false, 2; n.rescueDue() {
		t.Error("stageinit.rescue after a kexec: a shell is due")
	}
	n.rescue, n.quick = "onfail", rescueAfter
	must(t, os.WriteFile(filepath.Join(dir, "etc/rescue"), nil, 0o755))
	if d := n.pause(); d != 0 {
		t.Errorf("pause %v after %d failed rounds, want 0: the shell comes", d, rescueAfter)
	}
	exitLeader(t, n, 1<<8)
	for n.phase != rescuing && n.phase != pausing {
		exitLeader(t, n, 0) // the reboot stage
		settle(t, n)
	}
	n.startRound()
	if s := m.Spawned(); n.phase != rescuing || s[len(s)-1].Argv[0] != dir+"/etc/rescue" {
		t.Fatalf("phase %v, spawned %+v, want /etc/rescue", phaseNames[n.phase], s)
	}
	n.request(stages.PoweroffRequest, "SIGUSR2")
	if m.Count(fmt.Sprintf("kill %d terminated", -n.run.Leader)) != 1 {
		t.Errorf("the request did not stop the shell: %q", m.Calls())
	}
}

// result waits for the end of work off the loop and hands it to the loop.
func result(t *testing.T, n *node) {
	t.Helper()
	select {
	case w := <-n.results:
		n.worked(w)
	case <-time.After(5 * time.Second):
		t.Fatalf("no result in phase %v", phaseNames[n.phase])
	}
}

// TestKexecLoadedAtTheRequest: a reboot request while the boot stage runs
// with /kernel staged loads it at once, while the stages stop; the final
// action keeps that load when nothing changed, and loads again when
// /etc/reboot changed the files or was cut short, or waits for the load
// when it has not ended.
func TestKexecLoadedAtTheRequest(t *testing.T) {
	for _, tc := range []struct {
		name  string
		then  func(t *testing.T, n *node, dir string)
		loads int
		prev  string
	}{
		{"unchanged", func(*testing.T, *node, string) {}, 1, "reboot:SIGTERM"},
		{"kernel changed by /etc/reboot", func(t *testing.T, n *node, dir string) {
			must(t, os.WriteFile(dir+"/kernel", []byte("K2"), 0o644))
		}, 2, "reboot:SIGTERM"},
		{"reboot stage cut short", func(t *testing.T, n *node, dir string) {
			n.fire(rebootTimer)
		}, 2, "reboot:SIGTERM:deadline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &machinetest.Fake{}
			dir := t.TempDir()
			n := newTestNode(t, m, dir)
			n.rebootTimeout = time.Minute
			must(t, os.WriteFile(dir+"/kernel", []byte("K"), 0o644))
			n.startRound()
			n.request(stages.RebootRequest, "SIGTERM")
			result(t, n) // loaded while the boot stage stops
			if m.Count("kexec") != 1 || n.phase != booting {
				t.Fatalf("phase %v, calls %q: want a load at the request", phaseNames[n.phase], m.Calls())
			}
			exitLeader(t, n, unix.WaitStatus(syscall.SIGTERM))
			tc.then(t, n, dir)
			exitLeader(t, n, 0)
			settle(t, n)
			c := calls(m)
			if m.Count("kexec") != tc.loads || n.final != kexecJump || c[len(c)-1] != "reboot 0x45584543" {
				t.Errorf("final %v, calls %q: want %d loads and a kexec", n.final, c, tc.loads)
			}
			if !strings.Contains(c[len(c)-5], "stageinit.prev="+tc.prev+" ") {
				t.Errorf("last load %q, want prev %s", c[len(c)-5], tc.prev)
			}
		})
	}
}

// TestKexecWaitsForTheLoadAtTheRequest: the final action waits for a load
// begun at the request that has not ended (its deadline included), and a
// bad kernel found at the request is refused as any: /kernel.failed, a
// soft restart, and INIT_KEXEC_ERROR for the next boot stage.
func TestKexecWaitsForTheLoadAtTheRequest(t *testing.T) {
	m := &machinetest.Fake{Hang: make(chan struct{})}
	dir := t.TempDir()
	n := newTestNode(t, m, dir)
	must(t, os.WriteFile(dir+"/kernel", []byte("K"), 0o644))
	n.startRound()
	n.request(stages.RebootRequest, "SIGTERM")
	exitLeader(t, n, unix.WaitStatus(syscall.SIGTERM))
	exitLeader(t, n, 0)
	if n.phase != loading || n.at[workTimer].IsZero() || m.Count("sync") != 0 {
		t.Fatalf("phase %v, deadline %v, calls %q: want a wait for the load", phaseNames[n.phase], n.at[workTimer], m.Calls())
	}
	close(m.Hang)
	settle(t, n)
	if m.Count("kexec") != 1 || n.final != kexecJump {
		t.Errorf("final %v, calls %q: want one load and a kexec", n.final, m.Calls())
	}

	m = &machinetest.Fake{Fail: map[string]error{"kexec": unix.ENOEXEC}}
	n = newTestNode(t, m, dir)
	n.startRound()
	n.request(stages.RebootRequest, "SIGTERM")
	result(t, n)
	exitLeader(t, n, unix.WaitStatus(syscall.SIGTERM))
	exitLeader(t, n, 0)
	settle(t, n)
	if _, err := os.Stat(dir + "/kernel.failed"); err != nil || n.final != softRestart || m.Count("kexec") != 1 {
		t.Errorf("final %v, calls %q, /kernel.failed: %v", n.final, m.Calls(), err)
	}
	round(t, n)
	if e := env(t, m, -2); !strings.Contains(e, "INIT_KEXEC_ERROR=kexec_file_load "+dir+"/kernel: exec format error") {
		t.Errorf("next boot stage lacks INIT_KEXEC_ERROR:\n%s", e)
	}
}
