package lifecycle

import (
	"os"
	"path/filepath"
	"time"

	"github.com/stageinit/stageinit/console"
	"github.com/stageinit/stageinit/kmsg"
	"github.com/stageinit/stageinit/machine"
	"github.com/stageinit/stageinit/stages"
	"golang.org/x/sys/unix"
)

// Supervise runs command with mini-init-asm's semantics and returns its
// exit code: the supervisor mode (init -- COMMAND from a shell or a CI
// job) and, as pid 1 of a pid namespace, the container entrypoint
// (ENTRYPOINT ["/init", "--"]). The caller's world is the command's:
// working directory, environment, umask and limits pass unchanged. No
// mount, reboot(2) or kexec happens here, and kill(-1) only as pid 1 of a
// container, where it reaches only that pid namespace.
func Supervise(command []string, verbose bool) int {
	m := machine.Real{}
	log := newLog(m, kmsg.FD(2), false)
	log.Verbose = verbose
	defer log.Flush(time.Second)
	sigfd, err := stages.Notify()
	if err != nil {
		log.Errf("%v", err)
	}
	ep := readEP(log)
	l := newLoop(m, log, ep, stages.SupervisorTable(ep.Signals))
	l.container = os.Getpid() == 1
	log.Debugf("grace %v, exit code base %d, restart %v (max %d, backoff %v), subreaper %v, extra signals %v",
		ep.Grace, ep.ExitBase, ep.Restart, ep.MaxRestarts, ep.Backoff, ep.Subreaper, ep.Signals)
	if ep.Subreaper && !l.container { // pid 1 adopts every orphan anyway
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			log.Warnf("prctl PR_SET_CHILD_SUBREAPER: %v", err)
		}
	}
	spec := stages.Spec{Name: filepath.Base(command[0]), Argv: command, Env: os.Environ(), Files: [3]uintptr{0, 1, 2},
		Terminal: console.Foreground(0)}
	if spec.Terminal {
		log.Debugf("fd 0 is a terminal: %s runs in its foreground", spec.Name)
	}
	l.startStage(spec, nil)
	// The watcher starts once the command has: a signal that came before
	// waits in the pipe.
	go watch(log, sigfd, l.sigs, nil)
	for !l.done {
		l.step()
	}
	return l.code
}

// commandEnded takes the command's exit code. In a container what the
// command left behind (daemons, orphans) ends here, not by the kernel's
// SIGKILL when pid 1 exits: a daemon writing a file gets TERM and the
// grace period first.
func (l *loop) commandEnded(r *stages.Run) {
	l.code = r.Code(l.ep.ExitBase)
	if r.Err != nil {
		l.log.Errf("%v", r.Err)
	} else {
		l.log.Debugf("%s exited: %s, exit code %d", r.Spec.Argv[0], r.Status.Text(), l.code)
	}
	if !l.container {
		l.done = true
		return
	}
	l.teardown()
}
