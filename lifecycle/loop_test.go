package lifecycle

import (
	"io"

	"fmt"
	"github.com/stageinit/stageinit/config"
	"github.com/stageinit/stageinit/kmsg"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stageinit/stageinit/machine/machinetest"
	"github.com/stageinit/stageinit/stages"
	"golang.org/x/sys/unix"
)

var phaseNames = [...]string{"pausing", "booting", "rebooting", "loading", "tearingDown", "syncing", "rescuing"}

// event is one kind of event, as the loop's select would hand it over.
// A deadline that is not armed cannot pass: the event is then "unarmed".
type event struct {
	name string
	send func(l *loop, m *machinetest.Fake, last int) bool // false: it cannot happen now
}

func signal(sig syscall.Signal) event {
	return event{"signal " + strconv.Itoa(int(sig)), func(l *loop, _ *machinetest.Fake, _ int) bool { l.signal(sig); return true }}
}

func deadline(name string, t timer) event {
	return event{name, func(l *loop, _ *machinetest.Fake, _ int) bool {
		if l.next(); l.at[t].IsZero() {
			return false
		}
		l.fire(t)
		return true
	}}
}

var events = []event{
	signal(syscall.SIGHUP),
	signal(syscall.SIGUSR1),
	signal(syscall.SIGTERM),
	signal(syscall.SIGUSR2),
	signal(syscall.Signal(40)), // in neither table
	{"exit of the last leader", func(l *loop, _ *machinetest.Fake, last int) bool {
		l.exit(stages.Status{Pid: last, WS: unix.WaitStatus(3 << 8)})
		return true
	}},
	{"exit of an orphan", func(l *loop, _ *machinetest.Fake, _ int) bool {
		l.exit(stages.Status{Pid: 4242})
		return true
	}},
	{"exit of the last orphan", func(l *loop, m *machinetest.Fake, _ int) bool {
		m.Kids = false
		l.exit(stages.Status{Pid: 4243})
		return true
	}},
	deadline("grace", graceTimer),
	deadline("again", againTimer),
	deadline("pause", pauseTimer),
	deadline("teardown", teardownTimer),
}

// observe sets a state up, sends one event and returns what followed:
// where the loop is (phase, or the supervisor's end), the machine calls,
// and how many stages were spawned.
func observe(t *testing.T, setup func(t *testing.T) (*loop, *machinetest.Fake, func() string), e event) string {
	t.Helper()
	l, m, where := setup(t)
	calls, spawns, last := len(m.Calls()), len(m.Spawned()), 0
	if s := m.Spawned(); len(s) > 0 {
		last = s[len(s)-1].Pid
	}
	if !e.send(l, m, last) {
		return "unarmed"
	}
	if l.drain != nil { // the relay of an ended stage
		<-l.drain
		l.drained()
	}
	if l.node != nil {
		settle(t, l.node) // work done off the loop
	}
	return fmt.Sprintf("%s | %s | +%d", where(), strings.Join(m.Calls()[calls:], ", "), len(m.Spawned())-spawns)
}

// TestNodeLoop drives the machine's loop through every event kind in every
// state of a round and checks the actions that follow.
func TestNodeLoop(t *testing.T) {
	var n *node
	var m *machinetest.Fake
	fresh := func(t *testing.T, restart bool) {
		m = &machinetest.Fake{}
		n = newTestNode(t, m, t.TempDir())
		n.ep.Restart = restart
	}
	states := map[string]func(t *testing.T){
		"no stage": func(t *testing.T) {
			fresh(t, false)
			n.phase, n.at[pauseTimer] = pausing, time.Now().Add(time.Second)
		},
		"boot stage running": func(t *testing.T) { fresh(t, false); n.startRound() },
		"grace armed":        func(t *testing.T) { fresh(t, false); n.startRound(); n.signal(syscall.SIGINT) },
		"reboot stage running": func(t *testing.T) {
			fresh(t, false)
			n.startRound()
			exitLeader(t, n, 0)
		},
		"restart backoff": func(t *testing.T) {
			fresh(t, true)
			n.startRound()
			n.exit(stages.Status{Pid: n.run.Leader, WS: unix.WaitStatus(syscall.SIGSEGV)})
		},
		"teardown": func(t *testing.T) {
			fresh(t, false)
			m.Kids = true
			n.startRound()
			exitLeader(t, n, 0)
			exitLeader(t, n, 0)
		},
	}
	want := map[string][]string{ // in the order of events
		"no stage": {
			"pausing |  | +0",
			"booting | kill -1000 terminated, kill -1000 continued | +1",
			"booting | kill -1000 terminated, kill -1000 continued | +1",
			"booting | kill -1000 terminated, kill -1000 continued | +1",
			"pausing |  | +0", "pausing |  | +0", "pausing |  | +0", "pausing |  | +0",
			"unarmed", "unarmed", "booting |  | +1", "unarmed"},
		"boot stage running": {
			"booting | kill -1000 hangup | +0",
			"booting | kill -1000 terminated, kill -1000 continued | +0",
			"booting | kill -1000 terminated, kill -1000 continued | +0",
			"booting | kill -1000 terminated, kill -1000 continued | +0",
			"booting |  | +0", "rebooting |  | +1", "booting |  | +0", "booting |  | +0",
			"unarmed", "unarmed", "unarmed", "unarmed"},
		"grace armed": {
			"booting | kill -1000 hangup | +0",
			"booting | kill -1000 terminated, kill -1000 continued | +0",
			"booting | kill -1000 terminated, kill -1000 continued | +0",
			"booting | kill -1000 terminated, kill -1000 continued | +0",
			"booting |  | +0", "rebooting |  | +1", "booting |  | +0", "booting |  | +0",
			"booting | kill -1000 killed | +0", "unarmed", "unarmed", "unarmed"},
		"reboot stage running": {
			"rebooting | kill -1001 hangup | +0",
			"rebooting | kill -1001 terminated, kill -1001 continued | +0",
			"rebooting | kill -1001 terminated, kill -1001 continued | +0",
			"rebooting | kill -1001 terminated, kill -1001 continued | +0",
			"rebooting |  | +0", "pausing | kill -1 terminated, kill -1 continued, sync | +0",
			"rebooting |  | +0", "rebooting |  | +0",
			"unarmed", "unarmed", "unarmed", "unarmed"},
		"restart backoff": {
			"booting |  | +0", "rebooting |  | +1", "rebooting |  | +1", "rebooting |  | +1",
			"booting |  | +0", "booting |  | +0", "booting |  | +0", "booting |  | +0",
			"unarmed", "booting |  | +1", "unarmed", "unarmed"},
		"teardown": {
			"tearingDown |  | +0", "tearingDown |  | +0", "tearingDown |  | +0", "tearingDown |  | +0",
			"tearingDown |  | +0", "tearingDown |  | +0", "tearingDown |  | +0", "pausing | sync | +0",
			"unarmed", "unarmed", "unarmed", "tearingDown | kill -1 killed | +0"},
	}
	for state, setup := range states {
		for i, e := range events {
			got := observe(t, func(t *testing.T) (*loop, *machinetest.Fake, func() string) {
				setup(t)
				return &n.loop, m, func() string { return phaseNames[n.phase] }
			}, e)
			if got != want[state][i] {
				t.Errorf("%s, %s: %q, want %q", state, e.name, got, want[state][i])
			}
		}
	}
}

// TestSupervisorLoop is the same for the supervisor and the container
// entrypoint: their loop has fewer event kinds.
func TestSupervisorLoop(t *testing.T) {
	var s *loop
	var m *machinetest.Fake
	fresh := func(restart, container bool) {
		m = &machinetest.Fake{}
		ep := config.EP{Grace: time.Second, ExitBase: 128, Backoff: time.Second, Restart: restart}
		l := newLoop(m, kmsg.NewLogger(io.Discard, false, nil), ep, stages.SupervisorTable(nil))
		s, l.container = &l, container
		s.startStage(stages.Spec{Name: "app", Argv: []string{"/bin/app"}, Files: [3]uintptr{0, 1, 2}}, nil)
	}
	states := map[string]func(){
		"command running": func() { fresh(false, false) },
		"grace armed":     func() { fresh(false, false); s.signal(syscall.SIGTERM) },
		"restart backoff": func() {
			fresh(true, false)
			s.exit(stages.Status{Pid: s.run.Leader, WS: unix.WaitStatus(syscall.SIGSEGV)})
		},
		"container teardown": func() {
			fresh(false, true)
			m.Kids = true
			s.exit(stages.Status{Pid: s.run.Leader, WS: unix.WaitStatus(3 << 8)})
		},
	}
	fwd := func(sig string) string { return "running | kill -1000 " + sig + " | +0" }
	none, unarmed := "running |  | +0", "unarmed"
	want := map[string][]string{
		"command running": {fwd("hangup"), fwd("user defined signal 1"), fwd("terminated"), fwd("user defined signal 2"),
			none, "done 3 |  | +0", none, none, unarmed, unarmed, unarmed, unarmed},
		"grace armed": {fwd("hangup"), fwd("user defined signal 1"), fwd("terminated"), fwd("user defined signal 2"),
			none, "done 3 |  | +0", none, none, fwd("killed"), unarmed, unarmed, unarmed},
		"restart backoff": {"done 139 |  | +0", none, "done 139 |  | +0", none,
			none, none, none, none, unarmed, "running |  | +1", unarmed, unarmed},
		"container teardown": {"tearingDown |  | +0", "tearingDown |  | +0", "tearingDown |  | +0", "tearingDown |  | +0",
			"tearingDown |  | +0", "tearingDown |  | +0", "tearingDown |  | +0", "done 3 |  | +0",
			unarmed, unarmed, unarmed, "tearingDown | kill -1 killed | +0"},
	}
	for state, setup := range states {
		for i, e := range events {
			got := observe(t, func(*testing.T) (*loop, *machinetest.Fake, func() string) {
				setup()
				return s, m, func() string {
					switch {
					case s.done:
						return "done " + strconv.Itoa(s.code)
					case s.down != nil:
						return "tearingDown"
					}
					return "running"
				}
			}, e)
			if got != want[state][i] {
				t.Errorf("%s, %s: %q, want %q", state, e.name, got, want[state][i])
			}
		}
	}
}

// TestReapAllocatesNothing: a SIGCHLD and an orphan's exit cost pid 1 no
// allocation without -v (a node reaps every orphan of the machine: its
// heap must not grow with them).
func TestReapAllocatesNothing(t *testing.T) {
	l := newLoop(&machinetest.Fake{}, kmsg.NewLogger(io.Discard, false, nil), config.EP{}, stages.MachineTable(nil))
	if n := testing.AllocsPerRun(100, func() {
		l.signal(syscall.SIGCHLD)
		l.exit(stages.Status{Pid: 12345, WS: unix.WaitStatus(3 << 8)})
	}); n != 0 {
		t.Errorf("%v allocations per SIGCHLD and orphan, want 0", n)
	}
}
