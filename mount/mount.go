// Package mount sets up the early file system of pid 1 as u-root's libinit
// does: one table of mounts, directories and symlinks, applied in order by
// one loop that logs and carries on.
package mount

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/stageinit/stageinit/kmsg"
	"github.com/stageinit/stageinit/machine"
	"golang.org/x/sys/unix"
)

// step is a row of the table: it makes its part of the file system and
// says what it did, for the log.
type step interface {
	apply(m machine.Machine) (string, error)
}

// mnt is mount(2) of a file system; option is the kernel option that
// provides it, named when the kernel lacks it.
type mnt struct {
	source, target, fstype string
	flags                  uintptr
	data, option           string
}

// link is a symlink path -> target; an existing path is left alone.
type link struct{ path, target string }

// sticky is a world-writable directory with the sticky bit (01777).
type sticky struct{ path string }

// Table is the early file system of pid 1, in order. The first row
// remounts /.
var Table = []step{
	mnt{"", "/", "", unix.MS_REMOUNT | unix.MS_NOSUID, "", ""},
	mnt{"none", "/dev", "devtmpfs", unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_STRICTATIME, "", "CONFIG_DEVTMPFS=y"},
	mnt{"none", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", "CONFIG_PROC_FS=y"},
	mnt{"none", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", "CONFIG_SYSFS=y"},
	mnt{"none", "/sys/fs/cgroup", "cgroup2", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", "CONFIG_CGROUPS=y"},
	mnt{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "gid=5,mode=0620,ptmxmode=000",
		"CONFIG_UNIX98_PTYS=y"},
	mnt{"pstore", "/sys/fs/pstore", "pstore", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", "CONFIG_PSTORE=y"},
	link{"/dev/fd", "/proc/self/fd"},
	link{"/dev/stdin", "/proc/self/fd/0"},
	link{"/dev/stdout", "/proc/self/fd/1"},
	link{"/dev/stderr", "/proc/self/fd/2"},
	link{"/etc/mtab", "/proc/self/mounts"},
	sticky{"/dev/shm"},
	sticky{"/tmp"},
}

// Apply makes every row, never stopping early, and returns one line per
// row for the log, errors apart. The end of each mount, and of the rest,
// is a mark of tl.
func Apply(table []step, m machine.Machine, tl *kmsg.Timeline) (done, failed []string) {
	for _, s := range table {
		line, err := s.apply(m)
		if err != nil {
			failed = append(failed, line)
		} else if line != "" {
			done = append(done, line)
		}
		if mt, ok := s.(mnt); ok {
			tl.Mark("mount " + mt.target)
		}
	}
	tl.Mark("skeleton")
	return done, failed
}

// apply mounts the row unless its target already is a mount point
// (already mounted counts as success), creating a missing target.
func (mt mnt) apply(m machine.Machine) (string, error) {
	if mt.flags&unix.MS_REMOUNT == 0 {
		if isMountPoint(mt.target) {
			return mt.target + " already mounted", nil
		}
		if err := os.MkdirAll(mt.target, 0o755); err != nil {
			return fmt.Sprintf("mkdir %s: %v", mt.target, err), err
		}
	}
	err := m.Mount(mt.source, mt.target, mt.fstype, mt.flags, mt.data)
	switch {
	case errors.Is(err, unix.ENODEV) && mt.option != "":
		return fmt.Sprintf("mount %s: %v: the kernel has no %s (%s)", mt, err, mt.fstype, mt.option), err
	case err != nil:
		return fmt.Sprintf("mount %s: %v", mt, err), err
	}
	return fmt.Sprintf("mounted %s on %s", mt.fstype, mt.target), nil
}

func (mt mnt) String() string {
	if mt.flags&unix.MS_REMOUNT != 0 {
		return fmt.Sprintf("remount %s flags %#x", mt.target, mt.flags)
	}
	return fmt.Sprintf("-t %s %s %s flags %#x data %q", mt.fstype, mt.source, mt.target, mt.flags, mt.data)
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

func (l link) apply(machine.Machine) (string, error) {
	var st unix.Stat_t
	if machine.Lstat(l.path, &st) == nil {
		return "", nil
	}
	if err := os.Symlink(l.target, l.path); err != nil {
		return fmt.Sprintf("symlink %s -> %s: %v", l.path, l.target, err), err
	}
	return "", nil
}

func (d sticky) apply(machine.Machine) (string, error) {
	if err := os.MkdirAll(d.path, 0o755); err != nil {
		return fmt.Sprintf("mkdir %s: %v", d.path, err), err
	}
	if err := os.Chmod(d.path, os.ModeDir|os.ModeSticky|0o777); err != nil {
		return fmt.Sprintf("chmod 01777 %s: %v", d.path, err), err
	}
	return "", nil
}

// RemoveInit unlinks /init from the rootfs, giving its RAM back; the
// running binary stays mapped. Only when it is init's own executable.
func RemoveInit(m machine.Machine, self string) error {
	if self != "/init" {
		return nil
	}
	if err := m.Remove("/init"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("unlink /init: %w", err)
	}
	return nil
}
