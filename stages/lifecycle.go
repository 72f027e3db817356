package stages

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/stageinit/stageinit/kmsg"
	"golang.org/x/sys/unix"
)

// Lifecycle is pid 1's loop (SPEC 2.2): boot stage, /etc/reboot, final
// action, and for a soft restart back to the boot stage after a pause.
// Everything that touches the machine is a field, so tests replace it.
type Lifecycle struct {
	Runner   *Runner
	Teardown *Teardown
	Log      *kmsg.Logger
	Boot     Spec // /etc/boot, or the microVM command
	Reboot   Spec // /etc/reboot
	MicroVM  bool
	// Stdio gives a stage its fds 0-2, with a function to call once the
	// leader's pid is known and one to call when the stage is over.
	Stdio func(name string) (files [3]uintptr, started func(pid int), done func(), err error)
	// Exists looks at a control file (/reboot, /poweroff, /kernel).
	Exists func(path string) bool
	// Load is kexecboot: load /kernel; an error means it was not loaded.
	Load func() error
	// KexecFailed renames /kernel out of the way after a failed load.
	KexecFailed func()
	// Power carries out a final action other than a soft restart; in
	// production it does not return (pid 1 then waits for the end).
	Power func(Final)
	Pause time.Duration // before a soft restart; 0 means 1 s
	// Cgroups, if set, gives each stage its own cgroup (nil: none).
	Cgroups *Cgroups

	mu        sync.Mutex
	req       Action // strongest request of this round
	kexecErr  string // INIT_KEXEC_ERROR for the next boot stage
	bootState string // INIT_BOOT_STATUS for /etc/reboot
}

// Request records a reboot, halt or poweroff request (the strongest wins)
// and stops the running stage: TERM and CONT to its group, grace armed once.
func (l *Lifecycle) Request(a Action) {
	l.mu.Lock()
	if Stronger(a, l.req) {
		l.req = a
	}
	req := l.req
	l.mu.Unlock()
	l.Log.Infof("%s requested", ShutdownName(req))
	l.Runner.Stop(syscall.SIGTERM, syscall.SIGCONT)
}

func (l *Lifecycle) request() Action {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.req
}

// Run loops forever; Round is one pass.
func (l *Lifecycle) Run() {
	for {
		l.Round()
		pause := l.Pause
		if pause == 0 {
			pause = time.Second
		}
		time.Sleep(pause) // a request now applies to the next boot stage
	}
}

// Round runs the boot stage and /etc/reboot and carries out the final
// action. It returns only for a soft restart.
func (l *Lifecycle) Round() Final {
	l.mu.Lock()
	kexecErr := l.kexecErr
	l.kexecErr = ""
	l.mu.Unlock()

	boot := l.Boot
	if kexecErr != "" {
		boot.Env = append(append([]string{}, boot.Env...), "INIT_KEXEC_ERROR="+kexecErr)
	}
	res := l.stage(boot, true)
	status := res.Code
	if res.Err == nil && res.Status.WS.Signaled() {
		status = 128 + int(res.Status.WS.Signal())
	}
	rb := l.Reboot
	rb.Env = append(append([]string{}, rb.Env...),
		"INIT_BOOT_STATUS="+strconv.Itoa(status), "INIT_SHUTDOWN="+ShutdownName(l.request()))
	if !(l.MicroVM && !l.Exists(rb.Argv[0])) {
		l.stage(rb, false)
	}

	final := Decide(l.request(), l.Exists, l.MicroVM)
	l.Log.Infof("final action: %v", final)
	if final == Kexec {
		if err := l.Load(); err != nil {
			l.Log.Errf("%v; soft restart instead", err)
			l.KexecFailed()
			l.mu.Lock()
			l.kexecErr = err.Error()
			l.mu.Unlock()
			final = SoftRestart
		}
	}
	l.Teardown.Run()
	if final != SoftRestart {
		l.Power(final)
	}
	l.mu.Lock()
	l.req = 0 // the request is carried out; the next round starts clean
	l.mu.Unlock()
	return final
}

// stage runs one stage to its end and logs its start and exit. A request
// made before the boot stage started stops it at once; /etc/reboot runs
// because of the request and is only stopped by a new one.
func (l *Lifecycle) stage(s Spec, boot bool) Result {
	files, started, done, err := l.Stdio(s.Name)
	if err != nil {
		l.Log.Errf("%s: no standard streams: %v", s.Name, err)
	}
	s.Files = files
	if l.Cgroups != nil {
		cg, err := l.Cgroups.Stage(s.Name)
		if err != nil {
			l.Log.Warnf("%s: runs without its own cgroup: %v", s.Name, err)
		} else {
			s.Cgroup = cg
			defer cg.Close()
		}
	}
	l.Runner.Reset()
	if boot && l.request() != 0 {
		l.Runner.Stop(syscall.SIGTERM, syscall.SIGCONT)
	}
	s.NoRestart = !boot
	l.Runner.OnStart = func(pid int) {
		l.Log.Infof("%s: started %s, pid %d", s.Name, s.Argv[0], pid)
		started(pid)
	}
	res := l.Runner.Run(s)
	done()
	if res.Err != nil {
		l.Log.Errf("%s: %v: treated as exit %d", s.Name, res.Err, res.Code)
	} else {
		stats := ""
		if s.Cgroup != nil {
			stats = ", " + s.Cgroup.Stats()
		}
		l.Log.Infof("%s: %s after %v%s%s", s.Name, ExitText(res.Status.WS), res.Duration.Round(time.Millisecond), restartsText(res.Restarts), stats)
	}
	return res
}

// ExitText renders a wait status for the log: "exited 3", "killed by ...".
func ExitText(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}
	return "exited " + strconv.Itoa(ws.ExitStatus())
}

func restartsText(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(", %d restarts", n)
}

// FileExists is Lifecycle.Exists for the real root: lstat, no following.
func FileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
