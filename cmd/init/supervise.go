package main

import (
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/stageinit/stageinit/kmsg"
	"github.com/stageinit/stageinit/machine"
	"github.com/stageinit/stageinit/stages"
	"golang.org/x/sys/unix"
)

// supervise runs COMMAND under the core with mini-init-asm's semantics and
// returns its exit code: the supervisor mode (init -- COMMAND from a shell
// or a CI job) and, as pid 1 of a pid namespace, the container entrypoint
// (ENTRYPOINT ["/init", "--"]). The caller's world is COMMAND's: working
// directory, environment, umask and limits pass unchanged. No mount,
// reboot(2), kexec or kill(-1) happens here.
func supervise(o options) int {
	container := os.Getpid() == 1 // of a pid namespace: main sent the machine's elsewhere
	m := machine.Real{}
	log := kmsg.NewLogger(os.Stderr, false)
	log.Verbose = o.verbose
	defer log.Flush(time.Second)
	kmsg.Crash = func(v any, stack []byte) { crash(log, v, stack) }
	sigs, rest := stages.Notify()
	ep := readEP(log)
	log.Debugf("grace %v, exit code base %d, restart %v (max %d, backoff %v), subreaper %v, extra signals %v",
		ep.Grace, ep.ExitBase, ep.Restart, ep.MaxRestarts, ep.Backoff, ep.Subreaper, ep.Signals)
	if ep.Subreaper && !container { // pid 1 adopts every orphan anyway
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			log.Warnf("prctl PR_SET_CHILD_SUBREAPER: %v", err)
		}
	}
	reaper := &stages.Reaper{}
	runner := &stages.Runner{Reaper: reaper, M: m, Log: log, EP: ep}
	// The signal loop, the other signals and the reaper's thread (it blocks
	// in wait4) start once COMMAND has: nothing stands between init and its
	// exec but the signals it would die of. A signal that came before waits
	// in sigs; a stop still reaches the leader.
	started := sync.OnceFunc(func() {
		go runner.Handle(sigs, stages.SupervisorTable(ep.Signals))
		go rest()
		go func() { defer kmsg.Guard(); reaper.Run() }()
	})
	res := runner.Run(stages.Spec{Name: filepath.Base(o.command[0]), Argv: o.command, Env: os.Environ(),
		Files: [3]uintptr{0, 1, 2}, Started: func(int) { started() }})
	if res.Err != nil {
		log.Errf("%v", res.Err)
	} else {
		log.Debugf("%s exited: %s, exit code %d", o.command[0], exitText(res.Status.WS), res.Code(ep.ExitBase))
	}
	if container {
		// What COMMAND left behind (daemons, orphans) ends here, not by
		// the kernel's SIGKILL when pid 1 exits: a daemon writing a file
		// gets TERM and the grace period first.
		td := &stages.Teardown{M: m, Reaper: reaper, Log: log, Grace: ep.Grace, Container: true}
		if n := td.Run(); n > 0 {
			log.Warnf("killed %d processes that outlived the grace period of %v", n, ep.Grace)
		}
	}
	return res.Code(ep.ExitBase)
}
