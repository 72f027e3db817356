package lifecycle

import (
	"cmp"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/stageinit/stageinit/config"
	"github.com/stageinit/stageinit/console"
	"github.com/stageinit/stageinit/hardware"
	"github.com/stageinit/stageinit/kmsg"
	"github.com/stageinit/stageinit/machine"
	"github.com/stageinit/stageinit/mount"
	"github.com/stageinit/stageinit/stages"
	"golang.org/x/sys/unix"
)

// Machine is pid 1 of a machine: the initramfs mode, or the microVM mode
// when the kernel handed init a command after "--". It never returns: the
// kernel panics when pid 1 exits. begin is when main began: the boot
// path's marks count from there, and the log tells them once the first
// boot stage has started.
func Machine(args []string, version string, begin time.Time) {
	m, tl := machine.Real{}, &kmsg.Timeline{Begin: begin}
	sigfd, sigErr := stages.Notify() // no signal ends init from here on
	tl.Mark("signals")
	e := prepare(m, tl) // the log goes to the streams this opens
	if sigErr != nil {
		e.warns = append(e.warns, sigErr.Error())
	}
	w, kmsgStyle := e.streams.LogOutput()
	log := newLog(m, w, kmsgStyle)
	defer log.Guard()
	n := newNode(m, log, e, args, version)
	n.look()
	n.at[lookTimer] = time.Now().Add(30 * time.Second)
	tl.Mark("watchdog")
	n.startRound()
	tl.Mark("boot stage started")
	// What the boot stage cannot see waits until it runs: the watcher (a
	// signal that came before waits in the pipe), the power buttons, and
	// /init unlinked from the rootfs, which gives its RAM back.
	n.buttons = make(chan string, 1)
	go watch(log, sigfd, n.sigs, hardware.NewButtons("/dev", log, n.buttons))
	if err := mount.RemoveInit(m, os.Args[0]); err != nil {
		log.Warnf("%v", err)
	}
	// The last mark is taken as the line is queued, so that the line's
	// kernel timestamp places main on the kernel's clock (make bench).
	tl.Mark("watcher and buttons started and /init unlinked")
	log.Infof("boot path, ms since main: %s", tl)
	for {
		n.step()
	}
}

// early is what the machine's setup did before there was a log.
type early struct {
	streams        *console.Streams
	mounted, warns []string
	tl             *kmsg.Timeline
}

// prepare is the setup before the log, where nothing is fatal: the mount
// table and the standard streams.
func prepare(m machine.Machine, tl *kmsg.Timeline) early {
	os.Chdir("/")
	unix.Umask(0o022)
	setDefault("TERM", "linux")
	setDefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	mounted, failed := mount.Apply(mount.Table, m, tl)
	streams, warns := console.Open("/dev")
	warns = append(append(failed, warns...), streams.Adopt()...)
	tl.Mark("console")
	return early{streams, mounted, warns, tl}
}

// newNode does the rest of the early setup, where nothing is fatal
// either (command line, printk_devkmsg, Ctrl-Alt-Del as SIGINT),
// and reads the configuration.
func newNode(m machine.Machine, log *kmsg.Logger, e early, args []string, version string) *node {
	cmdline, cmdWarns := readCmdline()
	e.tl.Mark("cmdline")
	command, verbose := bootCommand(args, cmdline.Command)
	log.Verbose = verbose
	log.Infof("stageinit %s starting", version)
	logAll(log.Debugf, e.mounted)
	logAll(log.Warnf, e.warns, cmdWarns)
	if !cmdline.DevkmsgSet { // the default "ratelimit" keeps 10 records in 5 s
		if err := m.WriteFile("/proc/sys/kernel/printk_devkmsg", "on\n"); err != nil {
			log.Warnf("write /proc/sys/kernel/printk_devkmsg on: %v", err)
		}
	}
	if err := m.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF); err != nil {
		log.Warnf("reboot LINUX_REBOOT_CMD_CAD_OFF: %v (Ctrl-Alt-Del may reset at once)", err)
	}
	e.tl.Mark("sysctl")
	n := configure(m, log, e.streams, cmdline, command)
	e.tl.Mark("config")
	n.cgroups = stageCgroups(m, log, n.ep.PidsMax)
	e.tl.Mark("cgroups")
	n.hist = newHistory(cmdline, movePstore(m, log, "/sys/fs/pstore", "/run/stageinit/pstore"), e.tl.Begin)
	log.Infof("%s", n.hist.line())
	e.tl.Mark("history") // the metrics file comes with the first boot stage (startNodeStage)
	return n
}

// configure reads the rest of the configuration (metadata file, EP_*)
// and makes the node.
func configure(m machine.Machine, log *kmsg.Logger, streams *console.Streams, cmdline config.Cmdline,
	command []string) *node {
	var meta config.Metadata
	if data, err := machine.ReadFile("/etc/metadata.json", config.MaxMetadata+1); err == nil {
		var warns []string
		meta, warns = config.ParseMetadata(data)
		logAll(log.Warnf, warns)
	} else if !os.IsNotExist(err) {
		log.Warnf("read /etc/metadata.json: %v", err)
	}
	ep := readEP(log)
	env, dir := config.Merge(os.Environ(), meta, cmdline)
	dir = cmp.Or(dir, "/")
	n := &node{loop: newLoop(m, log, ep, stages.MachineTable(ep.Signals)), streams: streams,
		boot:    stages.Spec{Name: "boot", Argv: []string{"/etc/boot"}, Env: env, Dir: dir},
		reboot:  stages.Spec{Name: "reboot", Argv: []string{"/etc/reboot"}, Env: env, Dir: dir, NoRestart: true},
		microVM: len(command) > 0,
		files:   nodeFiles,
		dog: &hardware.Watchdog{M: m, Log: log, Devs: []string{"/dev/watchdog0", "/dev/watchdog"},
			Timeout: cmdline.Watchdog},
		allowance: 120,
	}
	n.node = n
	if cmdline.KexecWatchdog != nil {
		n.allowance = *cmdline.KexecWatchdog
	}
	if n.rebootTimeout = 90 * time.Second; cmdline.RebootTimeout != nil {
		n.rebootTimeout = time.Duration(*cmdline.RebootTimeout) * time.Second
	}
	n.rescue = cmdline.Rescue
	if n.microVM {
		n.vmExit, n.vmExitPort = cmdline.Exit, cmdline.ExitPort
		n.boot.Name, n.boot.Argv = command[0][strings.LastIndexByte(command[0], '/')+1:], command
	}
	log.Infof("config: boot %q, workdir %q, grace %v, restart %v (max %d, backoff %v), extra signals %v, env %q",
		n.boot.Argv, dir, ep.Grace, ep.Restart, ep.MaxRestarts, ep.Backoff, ep.Signals, env)
	return n
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
	raw, err := machine.ReadFile("/proc/cmdline", 1<<20)
	if err != nil {
		return config.Cmdline{}, []string{"read /proc/cmdline: " + err.Error()}
	}
	return config.ParseCmdline(string(raw))
}

// stageCgroups prepares per-stage cgroups under /sys/fs/cgroup, or returns
// nil (one warning) when there is no cgroup2 there.
func stageCgroups(m machine.Machine, log *kmsg.Logger, pidsMax int) *stages.Cgroups {
	cgs, warns, err := stages.NewCgroups(m, "/sys/fs/cgroup", pidsMax)
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

// newLog makes init's log. After a panic that a Guard logged, init ends:
// a supervisor exits 70; pid 1, which must not exit, makes a cold reboot
// 3 s later.
func newLog(m machine.Machine, w io.Writer, kmsgStyle bool) *kmsg.Logger {
	var log *kmsg.Logger
	log = kmsg.NewLogger(w, kmsgStyle, func() {
		if os.Getpid() != 1 {
			os.Exit(70)
		}
		time.Sleep(3 * time.Second)
		m.Sync()
		log.Critf("cold reboot after a panic: %v", m.Reboot(unix.LINUX_REBOOT_CMD_RESTART))
		log.Flush(time.Second)
		for {
			time.Sleep(time.Hour)
		}
	})
	return log
}
