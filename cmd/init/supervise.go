package main

import (
	"os"
	"syscall"
	"time"

	"github.com/stageinit/stageinit/config"
	"github.com/stageinit/stageinit/kmsg"
	"github.com/stageinit/stageinit/stages"
	"golang.org/x/sys/unix"
)

// supervise is supervisor mode (SPEC section 5): run the command under the
// core and return its exit code. No kill(-1), mount, reboot or kexec here.
func supervise(o options) int {
	log := kmsg.NewLogger(os.Stderr, false)
	log.Verbose = o.verbose
	defer log.Flush(time.Second)
	kmsg.Crash = func(v any, stack []byte) { crash(log, v, stack) }
	sigs := stages.Notify(stages.SupervisorTable(nil), true) // EP_SIGNALS extras come with the rest
	ep, warns := config.ParseEP(os.LookupEnv)
	table := stages.SupervisorTable(ep.Signals)
	for _, w := range warns {
		log.Warnf("%s", w)
	}
	log.Debugf("grace %v, exit code base %d, restart %v (max %d, backoff %v), subreaper %v, extra signals %v",
		ep.Grace, ep.ExitBase, ep.Restart, ep.MaxRestarts, ep.Backoff, ep.Subreaper, ep.Signals)
	if ep.Subreaper {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			log.Warnf("prctl PR_SET_CHILD_SUBREAPER: %v", err)
		}
	}
	reaper := &stages.Reaper{}
	runner := &stages.Runner{Reaper: reaper, Log: log, Policy: stages.Policy{
		Grace: ep.Grace, Restart: ep.Restart, MaxRestarts: ep.MaxRestarts,
		Backoff: ep.Backoff, ExitBase: ep.ExitBase}}
	go func() { defer kmsg.Guard(); reaper.Run() }()
	go dispatch(sigs, table, log, func(sig syscall.Signal, a stages.Action) {
		switch a {
		case stages.Soft:
			runner.Stop(sig)
		case stages.Forward:
			runner.Forward(sig)
		}
	})
	res := runner.Run(stages.Spec{
		Name:  o.command[0],
		Argv:  o.command,
		Env:   os.Environ(),
		Files: [3]uintptr{0, 1, 2},
	})
	if res.Err != nil {
		log.Errf("%v", res.Err)
	} else {
		log.Debugf("%s exited: %s, exit code %d", o.command[0], stages.ExitText(res.Status.WS), res.Code)
	}
	return res.Code
}

// dispatch is the signal loop of both modes: each signal goes through the
// table to handle (SIGCHLD never comes: Reaper.Run reaps). It runs for the
// life of the process.
func dispatch(sigs <-chan os.Signal, t stages.Table, log *kmsg.Logger, handle func(syscall.Signal, stages.Action)) {
	defer recoverCrash(log)
	for s := range sigs {
		sig, ok := s.(syscall.Signal)
		if !ok {
			continue
		}
		if sig != syscall.SIGURG {
			log.Debugf("received %v (%d)", sig, int(sig))
		}
		handle(sig, t.Lookup(sig))
	}
}
