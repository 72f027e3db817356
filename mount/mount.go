// Package mount sets up the early file system of pid 1: a mount table
// applied by one loop that logs and carries on (as u-root's libinit does),
// and the symlinks and directories a diskless node expects.
package mount

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/stageinit/stageinit/kmsg"
	"github.com/stageinit/stageinit/machine"
	"golang.org/x/sys/unix"
)

// Mount is one row of the table: mount(2) arguments.
type Mount struct {
	Source, Target, FSType string
	Flags                  uintptr
	Data                   string
}

// Table is the mount table of pid 1, in order. The first row remounts /.
var Table = []Mount{
	{"", "/", "", unix.MS_REMOUNT | unix.MS_NOSUID, ""},
	{"none", "/dev", "devtmpfs", unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_STRICTATIME, ""},
	{"none", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	{"none", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	{"none", "/sys/fs/cgroup", "cgroup2", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "gid=5,mode=0620,ptmxmode=000"},
	{"pstore", "/sys/fs/pstore", "pstore", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
}

// Apply mounts every row whose target is not already a mount point
// (already mounted counts as success), creating missing targets. It never
// stops early and returns one line per row for the log, errors first.
// Each row's end is a mark of tl.
func Apply(table []Mount, mach machine.Machine, tl *kmsg.Timeline) (done, failed []string) {
	for _, m := range table {
		line, err := apply(m, mach)
		if err != nil {
			failed = append(failed, line)
		} else {
			done = append(done, line)
		}
		tl.Mark("mount " + m.Target)
	}
	return done, failed
}

func apply(m Mount, mach machine.Machine) (string, error) {
	if m.Flags&unix.MS_REMOUNT == 0 {
		if isMountPoint(m.Target) {
			return m.Target + " already mounted", nil
		}
		if err := os.MkdirAll(m.Target, 0o755); err != nil {
			return fmt.Sprintf("mkdir %s: %v", m.Target, err), err
		}
	}
	if err := mach.Mount(m.Source, m.Target, m.FSType, m.Flags, m.Data); err != nil {
		return fmt.Sprintf("mount %s: %v", describe(m), err), err
	}
	return fmt.Sprintf("mounted %s on %s", m.FSType, m.Target), nil
}

func describe(m Mount) string {
	if m.Flags&unix.MS_REMOUNT != 0 {
		return fmt.Sprintf("remount %s flags %#x", m.Target, m.Flags)
	}
	return fmt.Sprintf("-t %s %s %s flags %#x data %q", m.FSType, m.Source, m.Target, m.Flags, m.Data)
}

// isMountPoint tells whether target is a mount point: its device is not
// its parent's (stat(2)). Every row of the table is a file system of its
// own, never a bind mount, so this is enough, and works before /proc is
// mounted.
func isMountPoint(target string) bool {
	var st, parent unix.Stat_t
	if machine.Lstat(target, &st) != nil || machine.Lstat(filepath.Dir(target), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}
