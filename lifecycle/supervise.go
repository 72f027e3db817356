package lifecycle

import (
	"os"
	"path/filepath"
	"time"

	"github.com/stageinit/stageinit/kmsg"
	"github.com/stageinit/stageinit/machine"
	"github.com/stageinit/stageinit/stages"
	"golang.org/x/sys/unix"
)

// supervisor runs one command with mini-init-asm's semantics: the
// supervisor mode (init -- COMMAND from a shell or a CI job) and, as pid 1
// of a pid namespace, the container entrypoint (ENTRYPOINT ["/init",
// "--"]). Its loop has no requests, no work off the loop and no deadlines
// of its own.
type supervisor struct {
	loop
	container bool // pid 1 of a pid namespace: teardown after the command
	code      int  // the command's exit code
	done      bool
}

// Supervise runs command and returns its exit code. The caller's world is
// the command's: working directory, environment, umask and limits pass
// unchanged. No mount, reboot(2) or kexec happens here, and kill(-1) only
// as pid 1 of a container, where it reaches only that pid namespace.
func Supervise(command []string, verbose bool) int {
	m := machine.Real{}
	c := &crash{m: m}
	log := kmsg.NewLogger(kmsg.FD(2), false, c)
	c.log, log.Verbose = log, verbose
	defer log.Flush(time.Second)
	sigs, relay, err := stages.Notify()
	if err != nil {
		log.Errf("%v", err)
	}
	ep := readEP(log)
	s := &supervisor{loop: newLoop(m, log, ep, sigs, stages.SupervisorTable(ep.Signals)), container: os.Getpid() == 1}
	s.mode = s
	log.Debugf("grace %v, exit code base %d, restart %v (max %d, backoff %v), subreaper %v, extra signals %v",
		ep.Grace, ep.ExitBase, ep.Restart, ep.MaxRestarts, ep.Backoff, ep.Subreaper, ep.Signals)
	if ep.Subreaper && !s.container { // pid 1 adopts every orphan anyway
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			log.Warnf("prctl PR_SET_CHILD_SUBREAPER: %v", err)
		}
	}
	s.startStage(stages.Spec{Name: filepath.Base(command[0]), Argv: command, Env: os.Environ(), Files: [3]uintptr{0, 1, 2}}, nil)
	// The reaper's thread (it blocks in wait4) and the signal relay start
	// once the command has; a signal that came before waits in the pipe.
	s.reap()
	go relay()
	for !s.done {
		s.step()
	}
	return s.code
}

func (s *supervisor) stageEnded(r *stages.Run) {
	s.code = r.Code(s.ep.ExitBase)
	if r.Err != nil {
		s.log.Errf("%v", r.Err)
	} else {
		s.log.Debugf("%s exited: %s, exit code %d", r.Spec.Argv[0], r.Status.Text(), s.code)
	}
	if !s.container {
		s.done = true
		return
	}
	// What the command left behind (daemons, orphans) ends here, not by
	// the kernel's SIGKILL when pid 1 exits: a daemon writing a file gets
	// TERM and the grace period first.
	s.teardown()
}

func (s *supervisor) tornDown(d teardown) {
	if d.killed {
		s.log.Warnf("killed the processes that outlived the grace period of %v", s.ep.Grace)
	}
	s.done = true
}

func (s *supervisor) request(stages.Action, string) {} // its table has none
func (s *supervisor) worked(work)                   {} // it does nothing off the loop
func (s *supervisor) timer(timer)                   {} // it has no deadlines of its own
