package main

import (
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stageinit/stageinit/config"
	"github.com/stageinit/stageinit/console"
	"github.com/stageinit/stageinit/kmsg"
	"github.com/stageinit/stageinit/machine"
	"github.com/stageinit/stageinit/mount"
	"github.com/stageinit/stageinit/stages"
	"golang.org/x/sys/unix"
)

// machineInit is pid 1 of a machine. In the initramfs mode it runs
// /etc/boot, then /etc/reboot, then the final action, round after round;
// in the microVM mode the boot stage is the command after "--" on the
// kernel command line, and the machine powers off when it ends. It never
// returns: the kernel panics when pid 1 exits.
func machineInit(args []string) {
	m := machine.Real{}
	log := kmsg.NewLogger(io.Discard, false)
	kmsg.Crash = func(v any, stack []byte) { crash(log, v, stack) }
	defer kmsg.Guard()
	sigs, rest := stages.Notify() // no signal ends init from here on
	installed := make(chan struct{})
	go func() { rest(); close(installed) }()
	streams, cmdline, command := earlySetup(m, log, args)
	if recs := pstore("/sys/fs/pstore"); len(recs) > 0 {
		log.Warnf("pstore: %d records of an earlier boot in /sys/fs/pstore: %s (ship them off the node: they stay only until deleted or overwritten)",
			len(recs), strings.Join(recs, " "))
	}
	l := newLifecycle(m, log, streams, cmdline, command)
	l.dog.look()
	go func() { defer kmsg.Guard(); l.runner.Reaper.Run() }()
	go func() {
		defer kmsg.Guard()
		for range time.Tick(30 * time.Second) {
			l.dog.look() // a driver a daemon loaded
		}
	}()
	<-installed // every handler is in place before a stage can send a signal
	go l.runner.Handle(sigs, stages.MachineTable(l.runner.EP.Signals))
	for {
		l.round()
		select { // a request stops the next boot stage at once
		case <-time.After(l.pause()):
		case <-l.runner.Requests():
		}
	}
}

// earlySetup is the early setup of the machine, where nothing is fatal: the
// mount table, the standard streams and the log, the kernel command line,
// the usual symlinks and directories, printk_devkmsg, Ctrl-Alt-Del as
// SIGINT.
func earlySetup(m machine.Machine, log *kmsg.Logger, args []string) (*console.Streams, config.Cmdline, []string) {
	os.Chdir("/")
	unix.Umask(0o022)
	setDefault("TERM", "linux")
	setDefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	mounted, failed := mount.Apply(mount.Table, m)
	streams, warns := console.Open("/dev")
	warns = append(warns, streams.Adopt()...)
	log.SetOutput(streams.LogOutput())
	cmdline, cmdWarns := readCmdline()
	command, verbose := bootCommand(args, cmdline.Command)
	log.Verbose = verbose
	log.Infof("stageinit %s starting", version)
	logAll(log.Debugf, mounted)
	logAll(log.Warnf, failed, warns, mount.Skeleton(), cmdWarns)
	if err := mount.RemoveInit(os.Args[0]); err != nil {
		log.Warnf("%v", err)
	}
	if !cmdline.DevkmsgSet { // the default "ratelimit" keeps 10 records in 5 s
		if err := os.WriteFile("/proc/sys/kernel/printk_devkmsg", []byte("on\n"), 0); err != nil {
			log.Warnf("write /proc/sys/kernel/printk_devkmsg on: %v", err)
		}
	}
	if err := m.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF); err != nil {
		log.Warnf("reboot RB_DISABLE_CAD: %v (Ctrl-Alt-Del may reset at once)", err)
	}
	return streams, cmdline, command
}

// pstore names the files in dir: records (oops, panic, console) that an
// earlier boot left with pstore (the kernel's
// Documentation/admin-guide/pstore-blk.rst, ramoops.rst).
func pstore(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// bootCommand finds the microVM command: the words after a standalone
// "--" on the kernel command line, when the kernel also handed them to
// init as its last arguments (as it does with the words after "--"). A
// "--" only in /proc/cmdline belongs to someone else: the host's own init,
// seen from a container. A literal "--" among init's arguments (pid 1 of
// the machine started by another program) gives the command directly.
// -v among the other arguments turns on debug logging.
func bootCommand(args, cmdline []string) (command []string, verbose bool) {
	if i := slices.Index(args, "--"); i >= 0 {
		args, command = args[:i], args[i+1:]
	} else if n := len(cmdline); n > 0 && len(args) >= n && slices.Equal(args[len(args)-n:], cmdline) {
		args, command = args[:len(args)-n], cmdline
	}
	return command, slices.Contains(args, "-v") || slices.Contains(args, "--verbose")
}

func setDefault(key, value string) {
	if os.Getenv(key) == "" {
		os.Setenv(key, value)
	}
}

func readCmdline() (config.Cmdline, []string) {
	raw, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return config.Cmdline{}, []string{"read /proc/cmdline: " + err.Error()}
	}
	return config.ParseCmdline(string(raw))
}

// newLifecycle reads the rest of the configuration (metadata file, EP_*)
// and wires the core: one reaper, one runner, teardown, stage cgroups.
func newLifecycle(m machine.Machine, log *kmsg.Logger, streams *console.Streams, cmdline config.Cmdline, command []string) *lifecycle {
	var meta config.Metadata
	if data, err := readLimited("/etc/metadata.json", config.MaxMetadata+1); err == nil {
		var warns []string
		meta, warns = config.ParseMetadata(data)
		logAll(log.Warnf, warns)
	} else if !os.IsNotExist(err) {
		log.Warnf("read /etc/metadata.json: %v", err)
	}
	ep := readEP(log)
	env, dir := config.Merge(os.Environ(), meta, cmdline)
	if dir == "" {
		dir = "/"
	}
	reaper := &stages.Reaper{Orphan: func(st stages.Status) {
		log.Debugf("reaped orphan %d: %s", st.Pid, exitText(st.WS))
	}}
	l := &lifecycle{m: m, log: log, streams: streams,
		runner:  &stages.Runner{Reaper: reaper, M: m, Log: log, EP: ep},
		cgroups: stageCgroups(m, log, ep.PidsMax),
		boot:    stages.Spec{Name: "boot", Argv: []string{"/etc/boot"}, Env: env, Dir: dir},
		reboot:  stages.Spec{Name: "reboot", Argv: []string{"/etc/reboot"}, Env: env, Dir: dir, NoRestart: true},
		microVM: len(command) > 0,
	}
	l.down = &stages.Teardown{M: m, Reaper: reaper, Log: log, Grace: ep.Grace, Cgroups: l.cgroups}
	l.dog = &dog{log: log, devs: []string{"/dev/watchdog0", "/dev/watchdog"}, timeout: cmdline.Watchdog}
	l.kexecDog = 120
	if cmdline.KexecWatchdog != nil {
		l.kexecDog = *cmdline.KexecWatchdog
	}
	if l.microVM {
		l.boot.Name, l.boot.Argv = command[0][strings.LastIndexByte(command[0], '/')+1:], command
	}
	log.Infof("config: boot %q, workdir %q, grace %v, restart %v (max %d, backoff %v), extra signals %v, env %q",
		l.boot.Argv, dir, ep.Grace, ep.Restart, ep.MaxRestarts, ep.Backoff, ep.Signals, env)
	return l
}

func readLimited(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, n))
}

// stageCgroups prepares per-stage cgroups under /sys/fs/cgroup, or returns
// nil (one warning) when there is no cgroup2 there. pids.max defaults to
// 90% of the smaller of kernel/pid_max and kernel/threads-max: a fork bomb
// in a stage then cannot keep the Go runtime from making its threads.
func stageCgroups(m machine.Machine, log *kmsg.Logger, pidsMax int) *stages.Cgroups {
	if pidsMax == 0 {
		limit := 0
		for _, f := range []string{"/proc/sys/kernel/pid_max", "/proc/sys/kernel/threads-max"} {
			b, _ := os.ReadFile(f)
			if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && (limit == 0 || n < limit) {
				limit = n
			}
		}
		pidsMax = limit * 9 / 10
	}
	cgs := &stages.Cgroups{Root: "/sys/fs/cgroup", PidsMax: pidsMax, M: m}
	warns, err := cgs.Check()
	if err != nil {
		log.Warnf("stages run without their own cgroups: %v", err)
		return nil
	}
	logAll(log.Warnf, warns)
	log.Infof("stage cgroups under %s, pids.max %d", cgs.Root, cgs.PidsMax)
	return cgs
}

// readEP reads the EP_* variables and logs what it refused, and with -v
// mini-init-asm's "EP_SIGNALS parsed" when EP_SIGNALS is set.
func readEP(log *kmsg.Logger) config.EP {
	ep, warns := config.ParseEP(os.LookupEnv)
	logAll(log.Warnf, warns)
	if _, ok := os.LookupEnv("EP_SIGNALS"); ok {
		log.Debugf("EP_SIGNALS parsed: extra signals %v", ep.Signals)
	}
	return ep
}

func logAll(logf func(string, ...any), lists ...[]string) {
	for _, l := range lists {
		for _, s := range l {
			logf("%s", s)
		}
	}
}

// exitText renders a wait status for the log: "exited 3", "killed by ...".
func exitText(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}
	return "exited " + strconv.Itoa(ws.ExitStatus())
}
