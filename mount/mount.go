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

// Step is a row of the table: it makes its part of the file system and
// says what it did, for the log.
type Step interface {
	apply(m machine.Machine) (string, error)
}

// Mount is mount(2) of a file system; Option is the kernel option that
// provides it, named when the kernel lacks it.
type Mount struct {
	Source, Target, FSType string
	Flags                  uintptr
	Data, Option           string
}

// Link is a symlink Path -> Target; an existing Path is left alone.
type Link struct{ Path, Target string }

// Dir is a world-writable directory with the sticky bit (01777).
type Dir struct{ Path string }

// Table is the early file system of pid 1, in order. The first row
// remounts /.
var Table = []Step{
	Mount{"", "/", "", unix.MS_REMOUNT | unix.MS_NOSUID, "", ""},
	Mount{"none", "/dev", "devtmpfs", unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_STRICTATIME, "", "CONFIG_DEVTMPFS=y"},
	Mount{"none", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", "CONFIG_PROC_FS=y"},
	Mount{"none", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", "CONFIG_SYSFS=y"},
	Mount{"none", "/sys/fs/cgroup", "cgroup2", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", "CONFIG_CGROUPS=y"},
	Mount{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "gid=5,mode=0620,ptmxmode=000", "CONFIG_UNIX98_PTYS=y"},
	Mount{"pstore", "/sys/fs/pstore", "pstore", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", "CONFIG_PSTORE=y"},
	Link{"/dev/fd", "/proc/self/fd"},
	Link{"/dev/stdin", "/proc/self/fd/0"},
	Link{"/dev/stdout", "/proc/self/fd/1"},
	Link{"/dev/stderr", "/proc/self/fd/2"},
	Link{"/etc/mtab", "/proc/self/mounts"},
	Dir{"/dev/shm"},
	Dir{"/tmp"},
}

// Apply makes every row, never stopping early, and returns one line per
// row for the log, errors apart. The end of each mount, and of the rest,
// is a mark of tl.
func Apply(table []Step, m machine.Machine, tl *kmsg.Timeline) (done, failed []string) {
	for _, s := range table {
		line, err := s.apply(m)
		if err != nil {
			failed = append(failed, line)
		} else if line != "" {
			done = append(done, line)
		}
		if mt, ok := s.(Mount); ok {
			tl.Mark("mount " + mt.Target)
		}
	}
	tl.Mark("skeleton")
	return done, failed
}

// apply mounts the row unless its target already is a mount point
// (already mounted counts as success), creating a missing target.
func (mt Mount) apply(m machine.Machine) (string, error) {
	if mt.Flags&unix.MS_REMOUNT == 0 {
		if isMountPoint(mt.Target) {
			return mt.Target + " already mounted", nil
		}
		if err := os.MkdirAll(mt.Target, 0o755); err != nil {
			return fmt.Sprintf("mkdir %s: %v", mt.Target, err), err
		}
	}
	err := m.Mount(mt.Source, mt.Target, mt.FSType, mt.Flags, mt.Data)
	switch {
	case errors.Is(err, unix.ENODEV) && mt.Option != "":
		return fmt.Sprintf("mount %s: %v: the kernel has no %s (%s)", mt, err, mt.FSType, mt.Option), err
	case err != nil:
		return fmt.Sprintf("mount %s: %v", mt, err), err
	}
	return fmt.Sprintf("mounted %s on %s", mt.FSType, mt.Target), nil
}

func (mt Mount) String() string {
	if mt.Flags&unix.MS_REMOUNT != 0 {
		return fmt.Sprintf("remount %s flags %#x", mt.Target, mt.Flags)
	}
	return fmt.Sprintf("-t %s %s %s flags %#x data %q", mt.FSType, mt.Source, mt.Target, mt.Flags, mt.Data)
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

func (l Link) apply(machine.Machine) (string, error) {
	var st unix.Stat_t
	if machine.Lstat(l.Path, &st) == nil {
		return "", nil
	}
	if err := os.Symlink(l.Target, l.Path); err != nil {
		return fmt.Sprintf("symlink %s -> %s: %v", l.Path, l.Target, err), err
	}
	return "", nil
}

func (d Dir) apply(machine.Machine) (string, error) {
	if err := os.MkdirAll(d.Path, 0o755); err != nil {
		return fmt.Sprintf("mkdir %s: %v", d.Path, err), err
	}
	if err := os.Chmod(d.Path, os.ModeDir|os.ModeSticky|0o777); err != nil {
		return fmt.Sprintf("chmod 01777 %s: %v", d.Path, err), err
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
