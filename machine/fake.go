package machine

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
)

// Fake is the Machine of tests: it records every call, in order, as a
// line such as "kill -1 terminated", "mount devtmpfs /dev" or "reboot
// 0x45584543", and a call whose line starts with a key of Fail returns
// that error ("kexec", "mount devtmpfs"). With Deliver,
// kill(2) to a process or a process group (never -1) is also sent for
// real, so a test's own children get their signals.
type Fake struct {
	Fail    map[string]error
	Deliver bool

	mu    sync.Mutex
	calls []string
}

// Calls returns the calls so far.
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
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

func (f *Fake) Kill(pid int, sig syscall.Signal) error {
	if err := f.record("kill", " %d %v", pid, sig); err != nil || !f.Deliver || pid == -1 {
		return err
	}
	return syscall.Kill(pid, sig)
}

func (f *Fake) Mount(source, target, fstype string, flags uintptr, data string) error {
	return f.record("mount", " %s %s", fstype, target)
}

func (f *Fake) Sync() { f.record("sync", "") }

func (f *Fake) Reboot(cmd int) error { return f.record("reboot", " %#x", uint32(cmd)) }

func (f *Fake) KexecLoad(kernel, initrd *os.File, cmdline string) error {
	name := "none"
	if initrd != nil {
		name = initrd.Name()
	}
	return f.record("kexec", " %s %s %q", kernel.Name(), name, cmdline)
}
