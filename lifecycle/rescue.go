package lifecycle

import (
	"github.com/stageinit/stageinit/console"
	"github.com/stageinit/stageinit/stages"
)

// rescueAfter is how many rounds in a row whose boot stage failed make
// the boot-loop backoff's pause its longest (1, 2, 4 ... 32 s, then 60 s):
// with stageinit.rescue=onfail the rescue shell comes then instead.
const rescueAfter = 7

// rescueDue tells whether the round starts with the rescue shell: once
// with stageinit.rescue, in generation 1 only (a kexec carries the command
// line over, and an update must not wait at a shell), after rescueAfter
// failed rounds with stageinit.rescue=onfail, never when a request is
// pending.
func (n *node) rescueDue() bool {
	now := n.rescue == "now" && !n.rescued && n.hist.gen == 1
	return n.req == 0 && (now || n.rescue == "onfail" && n.quick >= rescueAfter)
}

// startRescue starts the rescue shell on the terminal behind the console:
// /etc/rescue when the archive has it (sulogin, say), else /bin/sh -i. It
// is a stage like the others (the stage environment, a cgroup, requests
// stop it), in a session of its own with the terminal as its controlling
// terminal, so that job control and Ctrl-C work. Without a terminal there
// is no rescue shell for the rest of the boot.
func (n *node) startRescue() bool {
	tty, err := console.Terminal(n.files.sys, n.files.dev)
	if err != nil {
		n.log.Errf("rescue: %v: no rescue shell", err)
		n.rescue = ""
		return false
	}
	defer tty.Close() // the shell has its own copies
	argv := []string{n.files.rescue}
	if !exists(argv[0]) {
		argv = []string{"/bin/sh", "-i"}
	}
	fd := tty.Fd()
	n.phase, n.rescued = rescuing, true
	n.log.Warnf("rescue: %s on %s (stageinit.rescue): the boot goes on when it exits", argv[0], tty.Name())
	n.startNodeStage(stages.Spec{Name: "rescue", Argv: argv, Env: n.boot.Env, Dir: n.boot.Dir,
		Files: [3]uintptr{fd, fd, fd}, NoRestart: true, Ctty: true})
	return true
}
