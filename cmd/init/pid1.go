package main

import (
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stageinit/stageinit/config"
	"github.com/stageinit/stageinit/console"
	"github.com/stageinit/stageinit/kexecboot"
	"github.com/stageinit/stageinit/kmsg"
	"github.com/stageinit/stageinit/mount"
	"github.com/stageinit/stageinit/stages"
	"golang.org/x/sys/unix"
)

// pid1 is the initramfs and microVM lifecycle (SPEC section 2). It never
// returns: the kernel panics when pid 1 exits.
func pid1(o options) {
	log := kmsg.NewLogger(io.Discard, false)
	log.Verbose = o.verbose
	defer recoverCrash(log)
	kmsg.Crash = func(v any, stack []byte) { crash(log, v, stack) }
	sigs := stages.Notify(nil, false) // from here on no signal can end init

	earlySetup()
	mounted, mountErrs := mount.Apply(mount.Table, mount.Real)
	streams, streamWarns := console.Open("/dev")
	streamWarns = append(streamWarns, streams.Adopt()...)
	log.SetOutput(streams.LogOutput())
	log.Infof("stageinit %s starting", version)
	logAll(log.Debugf, mounted)
	logAll(log.Warnf, mountErrs, streamWarns, mount.Skeleton())
	if err := mount.RemoveInit(os.Args[0]); err != nil {
		log.Warnf("%v", err)
	}

	cmd, meta, ep := readConfig(log)
	if !cmd.DevkmsgSet {
		if err := os.WriteFile("/proc/sys/kernel/printk_devkmsg", []byte("on\n"), 0); err != nil {
			log.Warnf("write /proc/sys/kernel/printk_devkmsg on: %v", err)
		}
	}
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF); err != nil {
		log.Warnf("reboot RB_DISABLE_CAD: %v (Ctrl-Alt-Del may reset at once)", err)
	}
	env, dir := config.Merge(os.Environ(), meta, cmd)
	lc := newLifecycle(log, streams, ep, cmd.Command, env, dir)
	lc.Cgroups = stageCgroups(log, ep.PidsMax)
	lc.Teardown.Cgroups = lc.Cgroups
	log.Infof("config: boot %q, workdir %q, grace %v, restart %v (max %d, backoff %v), extra signals %v, env %q",
		lc.Boot.Argv, dir, ep.Grace, ep.Restart, ep.MaxRestarts, ep.Backoff, ep.Signals, env)

	go func() { defer kmsg.Guard(); lc.Runner.Reaper.Run() }()
	go dispatch(sigs, stages.PID1Table(ep.Signals), log, func(sig syscall.Signal, a stages.Action) {
		switch a {
		case stages.Forward:
			lc.Runner.Forward(sig)
		case stages.Reboot, stages.Halt, stages.Poweroff:
			lc.Request(a)
		}
	})
	lc.Run()
}

// earlySetup is SPEC 2.1 step 1.
func earlySetup() {
	os.Chdir("/")
	unix.Umask(0o022)
	if os.Getenv("TERM") == "" {
		os.Setenv("TERM", "linux")
	}
	if os.Getenv("PATH") == "" {
		os.Setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
}

// readConfig reads the kernel command line, the metadata file and EP_*.
func readConfig(log *kmsg.Logger) (config.Cmdline, config.Metadata, config.EP) {
	var cmd config.Cmdline
	var meta config.Metadata
	if raw, err := os.ReadFile("/proc/cmdline"); err != nil {
		log.Warnf("read /proc/cmdline: %v", err)
	} else {
		var warns []string
		cmd, warns = config.ParseCmdline(string(raw))
		logAll(log.Warnf, warns)
	}
	if data, err := readLimited("/etc/metadata.json", config.MaxMetadata+1); err == nil {
		var warns []string
		meta, warns = config.ParseMetadata(data)
		logAll(log.Warnf, warns)
	} else if !os.IsNotExist(err) {
		log.Warnf("read /etc/metadata.json: %v", err)
	}
	ep, warns := config.ParseEP(os.LookupEnv)
	logAll(log.Warnf, warns)
	return cmd, meta, ep
}

func readLimited(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, n))
}

func newLifecycle(log *kmsg.Logger, streams *console.Streams, ep config.EP, command, env []string, dir string) *stages.Lifecycle {
	reaper := &stages.Reaper{Orphan: func(st stages.Status) {
		log.Debugf("reaped orphan %d: %s", st.Pid, stages.ExitText(st.WS))
	}}
	runner := &stages.Runner{Reaper: reaper, Log: log, Policy: stages.Policy{
		Grace: ep.Grace, Restart: ep.Restart, MaxRestarts: ep.MaxRestarts,
		Backoff: ep.Backoff, ExitBase: ep.ExitBase}}
	boot := stages.Spec{Name: "boot", Argv: []string{"/etc/boot"}, Env: env, Dir: dir}
	if len(command) > 0 {
		boot.Name, boot.Argv = baseName(command[0]), command
	}
	return &stages.Lifecycle{
		Runner:   runner,
		Teardown: &stages.Teardown{Reaper: reaper, Log: log, Grace: ep.Grace},
		Log:      log,
		Boot:     boot,
		Reboot:   stages.Spec{Name: "reboot", Argv: []string{"/etc/reboot"}, Env: env, Dir: dir},
		MicroVM:  len(command) > 0,
		Stdio: func(name string) ([3]uintptr, func(int), func(), error) {
			return streams.Stage(name, log)
		},
		Exists: stages.FileExists,
		Load: func() error {
			begin := time.Now()
			err := kexecboot.Load(kexecboot.Default)
			if err == nil {
				log.Infof("kexec: loaded %s in %v", kexecboot.Default.Kernel, time.Since(begin).Round(time.Millisecond))
			}
			return err
		},
		KexecFailed: func() {
			if err := kexecboot.Failed(kexecboot.Default); err != nil {
				log.Errf("%v", err)
			}
		},
		Power: func(f stages.Final) { power(f, log) },
	}
}

// stageCgroups prepares per-stage cgroups under /sys/fs/cgroup, or returns
// nil (one warning) when there is no cgroup2 there.
func stageCgroups(log *kmsg.Logger, pidsMax int) *stages.Cgroups {
	if pidsMax == 0 {
		pidsMax = defaultPidsMax()
	}
	cgs := &stages.Cgroups{Root: "/sys/fs/cgroup", PidsMax: pidsMax}
	warns, err := cgs.Check()
	if err != nil {
		log.Warnf("stages run without their own cgroups: %v", err)
		return nil
	}
	logAll(log.Warnf, warns)
	log.Infof("stage cgroups under %s, pids.max %d", cgs.Root, cgs.PidsMax)
	return cgs
}

// defaultPidsMax leaves pid 1 a tenth of the kernel's process and thread
// limits (kernel/pid_max, kernel/threads-max): a fork bomb in a stage then
// cannot keep the Go runtime from creating the threads it needs.
func defaultPidsMax() int {
	limit := 0
	for _, f := range []string{"/proc/sys/kernel/pid_max", "/proc/sys/kernel/threads-max"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && (limit == 0 || n < limit) {
			limit = n
		}
	}
	return limit * 9 / 10
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 && i < len(p)-1 {
		return p[i+1:]
	}
	return p
}

func logAll(logf func(string, ...any), lists ...[]string) {
	for _, l := range lists {
		for _, s := range l {
			logf("%s", s)
		}
	}
}
