package lifecycle

import (
	"errors"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/stageinit/stageinit/console"
	"github.com/stageinit/stageinit/hardware"
	"github.com/stageinit/stageinit/kexecboot"
	"github.com/stageinit/stageinit/kmsg"
	"github.com/stageinit/stageinit/stages"
	"golang.org/x/sys/unix"
)

// phase is where a node's round is.
type phase int

const (
	pausing     phase = iota // between rounds
	booting                  // the boot stage: /etc/boot, or the microVM command
	rebooting                // the reboot stage: /etc/reboot
	loading                  // /kernel is being loaded, off the loop
	tearingDown              // teardown
	syncing                  // sync(2), off the loop
	rescuing                 // the rescue shell (stageinit.rescue)
)

// node is pid 1 of a machine. Round after round it runs the boot stage,
// then the reboot stage, then the final action; in the microVM mode the
// boot stage is the command after "--" and the final action a poweroff.
type node struct {
	loop
	streams *console.Streams
	cgroups *stages.Cgroups // nil: stages run without their own cgroups
	dog     *hardware.Watchdog
	boot    stages.Spec // /etc/boot, or the microVM command
	reboot  stages.Spec // /etc/reboot
	microVM bool
	// vmExit is how a microVM ends: "" (poweroff), "reboot" or
	// "isa-debug-exit" (on vmExitPort)
	vmExit     string
	vmExitPort int
	files      files
	allowance  int // seconds the watchdog counts through a kexec
	// rebootTimeout is the reboot stage's deadline; 0: none
	rebootTimeout time.Duration
	rescue        string // stageinit.rescue: "now", "onfail" or "" (never)
	rescued       bool   // a rescue shell ran this boot

	phase  phase
	req    stages.Action // the strongest request of the round; 0: none
	final  final
	tell   []string // the next boot stage's environment only: INIT_KEXEC_ERROR, INIT_REBOOT_STOPPED
	quick  int      // rounds in a row whose boot stage failed or ended within 1 s
	hist   history
	seq    int     // the work off the loop (offLoop) whose end counts
	pre    preload // the load begun at the round's request, if any
	warned bool    // the metrics file could not be written (logged once)
	// saidNoReboot: the missing reboot stage was logged (once a boot)
	saidNoReboot bool
}

// work is the end of work done off the loop (offLoop).
type work struct {
	seq  int // which: a later one's end makes an earlier one's stale
	err  error
	took time.Duration
}

// preload is a load of /kernel begun when a reboot was requested while the
// boot stage ran with an update staged: it overlaps the stage's stop and
// /etc/reboot instead of following them. The final action uses it when it
// succeeded and neither the files nor the words for the next generation
// have changed since; else it loads again.
type preload struct {
	seq    int    // its work's seq; 0: none this round
	files  string // kexecboot.Stamp of the files when it began
	prev   string // the stageinit.prev= word it loaded
	ended  bool   // w is how it ended
	w      work
	waited bool // the final action waits for it (phase loading)
}

// Deadlines of the work off the loop: loading the next kernel (with its
// verification) from a file system that may hang, and sync(2), which a
// hung NFS server may hold.
const (
	loadDeadline = 60 * time.Second
	syncDeadline = 10 * time.Second
)

// request takes a reboot, halt or poweroff request: the boot stage is
// stopped, and so is the reboot stage for a request at least as strong as
// the round's; the strongest request of a round wins.
func (n *node) request(a stages.Action, why string) {
	if a > n.req {
		n.req, n.hist.who = a, whoName(why)
	}
	n.log.Infof("%s requested (%s)", n.req.Shutdown(), why)
	switch {
	case n.phase == pausing: // the boot stage starts and is stopped at once
		n.at[pauseTimer] = time.Time{}
		n.startRound()
	case n.phase == booting || n.phase == rescuing:
		if n.phase == booting && a == stages.RebootRequest && n.pre.seq == 0 && n.decide() == kexecJump {
			n.preload()
		}
		n.run.Stop(syscall.SIGTERM, syscall.SIGCONT)
		n.ended()
	case n.phase == rebooting && a >= n.req: // asked again: it is cut short
		n.log.Warnf("reboot: %s stopped: %s requested again (%s)", n.reboot.Argv[0], a.Shutdown(), why)
		n.stopReboot("request")
	}
}

func (n *node) timer(t timer) {
	switch t {
	case pauseTimer:
		n.startRound()
	case petTimer:
		n.dog.Pet()
	case lookTimer:
		n.look()
		n.at[lookTimer] = time.Now().Add(30 * time.Second)
	case rebootTimer:
		n.log.Errf("reboot: %s still running after %v: stopped (TERM and CONT, KILL %v later)",
			n.reboot.Argv[0], n.rebootTimeout, n.ep.Grace)
		n.stopReboot("deadline")
	case workTimer:
		n.seq, n.pre = n.seq+1, preload{} // what the work says later is stale
		if n.phase == loading {
			n.log.Errf("kexec: loading %s did not end within %v: soft restart instead", n.files.kexec.Kernel, loadDeadline)
			why := "load did not end within " + loadDeadline.String()
			n.worked(work{n.seq, kexecboot.Failed(n.files.kexec, why), loadDeadline})
		} else {
			n.log.Errf("teardown: sync did not finish in %v, going on", syncDeadline)
			n.worked(work{seq: n.seq})
		}
	}
	n.at[petTimer] = n.dog.Due
}

// startRound starts the rescue shell when it is due, else the boot
// stage, stopped at once when a request came before it.
func (n *node) startRound() {
	if !n.rescueDue() || !n.startRescue() {
		n.phase = booting
		boot := n.boot
		boot.Env, n.tell = append(slices.Clone(boot.Env), n.tell...), nil
		n.startNodeStage(boot)
	}
	if n.req != 0 && n.run != nil {
		n.run.Stop(syscall.SIGTERM, syscall.SIGCONT)
		n.ended()
	}
}

// startNodeStage starts a stage with its streams, its cgroup and the boot
// reason in its environment.
func (n *node) startNodeStage(s stages.Spec) {
	s.Env = append(slices.Clone(s.Env), n.hist.env()...)
	var out *kmsg.Relay
	var err error
	if !s.Ctty { // the rescue shell's streams are its terminal
		if s.Files, out, err = n.streams.Stage(s.Name, n.log); err != nil {
			n.log.Errf("%s: no stderr relay: %v", s.Name, err)
		}
	}
	if n.cgroups != nil {
		if s.Cgroup, err = n.cgroups.Make(s.Name); err != nil {
			n.log.Warnf("%s: runs without its own cgroup: %v", s.Name, err)
		}
	}
	n.startStage(s, out)
	if n.hist.toBoot == 0 {
		n.hist.toBoot = time.Since(n.hist.start)
		n.publish()
	}
}

// stageEnded logs the stage's end and goes on: from the boot stage to
// the reboot stage (in a microVM only if there is one), from there to
// the final action.
func (n *node) stageEnded(r *stages.Run) {
	logEnd(n, r)
	r.Spec.Cgroup.Close()
	if n.phase == rescuing { // the boot goes on
		n.quick = 0
		n.startRound()
		return
	}
	n.hist.restarts += r.Restarts
	if n.phase == booting {
		n.hist.status = r.Code(128)
	}
	n.look() // the stage may have loaded a watchdog driver
	n.publish()
	if n.phase == booting {
		if n.microVM {
			n.sayStatus(r)
		}
		if r.Err != nil || time.Since(r.Begin) < time.Second {
			n.quick++
		} else {
			n.quick = 0
		}
		rb := n.reboot
		rb.Env = append(slices.Clone(rb.Env), "INIT_BOOT_STATUS="+strconv.Itoa(r.Code(128)),
			"INIT_SHUTDOWN="+n.req.Shutdown())
		if n.hasReboot() {
			n.phase = rebooting
			if n.startNodeStage(rb); n.rebootTimeout > 0 {
				n.at[rebootTimer] = time.Now().Add(n.rebootTimeout)
			}
			return
		}
	}
	n.finish()
}

// sayStatus writes the microVM command's status to the console, where
// quiet does not hide it: "stageinit: exit status 3", "stageinit: exit
// status 137 (killed by SIGKILL)".
func (n *node) sayStatus(r *stages.Run) {
	line := "stageinit: exit status " + strconv.Itoa(n.hist.status)
	if r.Err == nil && r.Status.WS.Signaled() {
		line += " (killed by " + unix.SignalName(r.Status.WS.Signal()) + ")"
	}
	if err := n.streams.Say(line); err != nil {
		n.log.Warnf("console: %q not written: %v", line, err)
	}
}

// stopReboot cuts the reboot stage short (TERM and CONT, the grace
// period, KILL) and says why to the next boot stage (INIT_REBOOT_STOPPED),
// the next generation and the metrics.
func (n *node) stopReboot(why string) {
	if n.run != nil && n.hist.cut == "" {
		n.hist.cut, n.hist.stopped = why, n.hist.stopped+1
		n.tell = append(n.tell, "INIT_REBOOT_STOPPED="+why)
		n.run.Stop(syscall.SIGTERM, syscall.SIGCONT)
		n.ended()
		n.publish()
	}
}

// hasReboot tells whether there is a reboot stage to run. Many nodes have
// nothing to do there: a missing one is an info line, once a boot; one
// that is there but cannot run is an error, as any stage.
func (n *node) hasReboot() bool {
	_, err := os.Lstat(n.reboot.Argv[0])
	if errors.Is(err, fs.ErrNotExist) && !n.saidNoReboot {
		n.saidNoReboot = true
		n.log.Infof("reboot: no %s: nothing runs between the boot stage and the final action", n.reboot.Argv[0])
	}
	return !errors.Is(err, fs.ErrNotExist)
}

func logEnd(n *node, r *stages.Run) {
	if r.Err != nil {
		n.log.Errf("%s: %v: treated as exit %d", r.Spec.Name, r.Err, r.Code(128))
		return
	}
	restarts := ""
	if r.Restarts > 0 {
		restarts = ", " + strconv.Itoa(r.Restarts) + " restarts"
	}
	n.log.Infof("%s: %s after %v%s%s", r.Spec.Name, r.Status.Text(), time.Since(r.Begin).Round(time.Millisecond),
		restarts, r.Spec.Cgroup.Stats())
}

// finish picks the final action; a kexec loads /kernel first, off the
// loop, before anything is torn down.
func (n *node) finish() {
	n.final = n.decide()
	n.log.Infof("final action: %v", n.final)
	if n.final != kexecJump {
		n.phase = tearingDown
		n.teardown()
		return
	}
	if n.pre.seq != 0 && !n.pre.ended { // the load begun at the request has not ended
		n.pre.waited, n.phase, n.at[workTimer] = true, loading, time.Now().Add(loadDeadline)
		return
	}
	n.load()
}

// preload begins loading /kernel, off the loop, as the boot stage is
// stopped for a reboot request; the next generation is told the request
// as it stands now, and its downtime counts from here.
func (n *node) preload() {
	words, files := n.hist.words(n.req, time.Now()), kexecboot.Stamp(n.files.kexec) // stamped before it reads them
	n.offLoop(n.phase, loadDeadline, func() error { return n.loadKernel(words) })
	n.at[workTimer] = time.Time{} // the final action's wait has the deadline
	n.pre = preload{seq: n.seq, files: files, prev: words[1]}
}

// load loads /kernel off the loop, unless the load begun at the request
// stands: it succeeded, and the files and the words are the same.
func (n *node) load() {
	words, p := n.hist.words(n.req, time.Now()), n.pre
	if p.ended && p.w.err == nil && p.prev == words[1] && p.files == kexecboot.Stamp(n.files.kexec) {
		n.log.Infof("kexec: %s stays as loaded at the request: nothing changed since", n.files.kexec.Kernel)
		n.phase, n.pre = loading, preload{}
		n.worked(work{seq: n.seq, took: p.w.took})
		return
	}
	n.offLoop(loading, loadDeadline, func() error { return n.loadKernel(words) })
}

// sync syncs after teardown, off the loop: a hung NFS server must not
// stop a reboot.
func (n *node) sync() { n.offLoop(syncing, syncDeadline, func() error { n.m.Sync(); return nil }) }

// offLoop runs f in a goroutine of its own, in phase p, with a deadline:
// work that blocks for seconds leaves the loop free to pet the watchdog
// and take requests.
func (n *node) offLoop(p phase, deadline time.Duration, f func() error) {
	n.seq++
	seq := n.seq
	n.phase, n.at[workTimer] = p, time.Now().Add(deadline)
	go func() {
		defer n.log.Guard()
		begin := time.Now()
		err := f()
		n.results <- work{seq, err, time.Since(begin)}
	}()
}

func (n *node) worked(w work) {
	if n.pre.seq != 0 && w.seq == n.pre.seq { // the load begun at the request
		n.pre.w, n.pre.ended = w, true
		switch {
		case !n.pre.waited && w.err != nil: // /kernel was renamed: no kexec this round
			n.tell = append(n.tell, "INIT_KEXEC_ERROR="+w.err.Error())
			return
		case !n.pre.waited:
			return
		case w.err == nil: // the final action waited for it
			n.load()
			return
		}
		n.pre, w.seq = preload{}, n.seq // it failed: as any load that failed
	}
	if w.seq != n.seq {
		return // work that outlived its deadline
	}
	n.at[workTimer] = time.Time{}
	switch n.phase {
	case loading:
		if n.hist.load = w.took; w.err != nil {
			n.final, n.tell = softRestart, append(n.tell, "INIT_KEXEC_ERROR="+w.err.Error())
		}
		n.publish()
		n.phase = tearingDown
		n.teardown()
	case syncing:
		n.carryOut()
	}
}

// loadKernel loads /kernel, with words for the next generation. On
// failure it renames /kernel out of the way: the node stays up on the
// running kernel.
func (n *node) loadKernel(words []string) error {
	begin, p := time.Now(), n.files.kexec
	notes, err := kexecboot.Load(n.m, p, words...)
	if err != nil {
		n.log.Errf("%v; soft restart instead", err)
		return kexecboot.Failed(p, err.Error())
	}
	logAll(n.log.Infof, notes)
	n.log.Infof("kexec: loaded %s in %v", p.Kernel, time.Since(begin).Round(time.Millisecond))
	return nil
}

// look opens the watchdog if one appeared; a watchdog that says it reset
// the machine makes that the boot reason, unless a kexec is.
func (n *node) look() {
	armed := n.dog.Armed
	n.dog.Look()
	n.at[petTimer] = n.dog.Due
	if n.dog.Reset && n.hist.reason != "kexec" && n.hist.reason != "watchdog" {
		n.hist.reason = "watchdog"
		n.log.Infof("boot reason: watchdog: the watchdog says it reset the machine (%s)", n.hist.line())
	} else if armed == n.dog.Armed {
		return
	}
	n.publish()
}

// publish writes the metrics file; a failure is a warning, once.
func (n *node) publish() {
	if err := writeMetrics(n.hist.dir, n.hist.metrics(n.dog.Armed)); err != nil && !n.warned {
		n.warned = true
		n.log.Warnf("metrics: %v: %s/stageinit.prom is not kept up to date", err, n.hist.dir)
	}
}
