// Package machinetest has the Machine of tests.
package machinetest

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stageinit/stageinit/machine"
)

// Fake records every call, in order, as a line such as "kill -1
// terminated", "mount devtmpfs /dev" or "reboot 0x45584543", and a call
// whose line starts with a key of Fail returns that error ("kexec",
// "mount devtmpfs"). Spawns are recorded apart, in Spawned, with their
// environment, and get pids counting up from 1000; Children is Kids.
//
// With Real, spawns and kill(2) to a process or a process group (never
// -1) happen for real, so a test's own children run and get their signals.
type Fake struct {
	Fail      map[string]error
	Real      bool
	Kids      bool
	CardReset bool          // the watchdog says it reset the machine
	Hang      chan struct{} // KexecFileLoad waits for it, when set: a hung file system

	mu      sync.Mutex
	calls   []string
	spawned []Spawn
	pid     int
}

// Spawn is one recorded fork/exec.
type Spawn struct {
	Pid  int
	Argv []string
	Env  []string
}

// Calls returns the calls so far.
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// Spawned returns the spawns so far.
func (f *Fake) Spawned() []Spawn {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Spawn(nil), f.spawned...)
}

// Count returns how many calls start with prefix.
func (f *Fake) Count(prefix string) int {
	n := 0
	for _, c := range f.Calls() {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func (f *Fake) record(kind, format string, args ...any) error {
	line := kind + fmt.Sprintf(format, args...)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, line)
	for k, err := range f.Fail {
		if strings.HasPrefix(line, k) {
			return err
		}
	}
	return nil
}

func (f *Fake) Spawn(path string, argv []string, attr *syscall.ProcAttr) (int, error) {
	if err := f.Fail["spawn "+argv[0]]; err != nil {
		return 0, err
	}
	pid, err := 0, error(nil)
	if f.Real {
		pid, err = syscall.ForkExec(path, argv, attr)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.Real {
		f.pid++
		pid = 999 + f.pid
	}
	if err == nil {
		f.spawned = append(f.spawned, Spawn{Pid: pid, Argv: argv, Env: attr.Env})
	}
	return pid, err
}

func (f *Fake) Kill(pid int, sig syscall.Signal) error {
	if err := f.record("kill", " %d %v", pid, sig); err != nil || !f.Real || pid == -1 {
		return err
	}
	return syscall.Kill(pid, sig)
}

func (f *Fake) Children() bool { return f.Kids }

func (f *Fake) Mount(source, target, fstype string, flags uintptr, data string) error {
	return f.record("mount", " %s %s", fstype, target)
}

func (f *Fake) Sync() { f.record("sync", "") }

func (f *Fake) Reboot(cmd int) error { return f.record("reboot", " %#x", uint32(cmd)) }

func (f *Fake) KexecFileLoad(kernel, initrd *os.File, cmdline string) error {
	if f.Hang != nil {
		<-f.Hang
	}
	return f.record("kexec", " %s %s %q", kernel.Name(), name(initrd), cmdline)
}

func (f *Fake) KexecLoad(kernel, initrd *os.File, cmdline string) error {
	return f.record("kexec_load", " %s %s %q", kernel.Name(), name(initrd), cmdline)
}

func name(f *os.File) string {
	if f == nil {
		return "none"
	}
	return f.Name()
}

func (f *Fake) WriteFile(path, data string) error { return f.record("write", " %s %s", path, data) }

func (f *Fake) OutByte(port int, b byte) error { return f.record("outb", " %#x %d", port, b) }

// Remove removes the file for real unless it fails ("remove PATH").
func (f *Fake) Remove(path string) error {
	if err := f.record("remove", " %s", path); err != nil {
		return err
	}
	return os.Remove(path)
}

func (f *Fake) OpenWatchdog(dev string) (machine.WatchdogDevice, error) {
	if err := f.record("watchdog open", " %s", dev); err != nil {
		return nil, err
	}
	return watchdog{f}, nil
}

type watchdog struct{ f *Fake }

func (w watchdog) KeepAlive() error          { return w.f.record("watchdog keepalive", "") }
func (w watchdog) SetTimeout(secs int) error { return w.f.record("watchdog timeout", " %d", secs) }
func (w watchdog) Timeout() (time.Duration, error) {
	return 30 * time.Second, w.f.record("watchdog get timeout", "")
}
func (w watchdog) Close() error      { return w.f.record("watchdog close", "") }
func (w watchdog) MagicClose() error { return w.f.record("watchdog magic close", "") }
func (w watchdog) CardReset() bool   { return w.f.CardReset }
