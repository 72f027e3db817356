package mount

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/stageinit/stageinit/kmsg"
	"github.com/stageinit/stageinit/machine/machinetest"
	"golang.org/x/sys/unix"
)

// TestIsMountPoint: /proc is one, a fresh directory and a missing path
// are not.
func TestIsMountPoint(t *testing.T) {
	if !isMountPoint("/proc") || isMountPoint(t.TempDir()) || isMountPoint("/nonexistent/x") {
		t.Errorf("isMountPoint: /proc %v, a temp dir %v, a missing path %v",
			isMountPoint("/proc"), isMountPoint(t.TempDir()), isMountPoint("/nonexistent/x"))
	}
}

// TestApply: every row is made whatever failed before it; a failed mount
// of a file system the kernel lacks names the kernel option.
func TestApply(t *testing.T) {
	tmp := t.TempDir()
	must(t, os.WriteFile(tmp+"/taken", nil, 0o644))
	table := []step{
		mnt{"", "/", "", unix.MS_REMOUNT | unix.MS_NOSUID, "", ""},
		mnt{"none", tmp + "/dev", "devtmpfs", unix.MS_NOSUID, "", "CONFIG_DEVTMPFS=y"},
		mnt{"none", "/proc", "proc", unix.MS_NOSUID, "", ""}, // the host's: already a mount point
		mnt{"none", tmp + "/sys/fs/cgroup", "cgroup2", unix.MS_NOSUID, "", ""},
		link{tmp + "/fd", "/proc/self/fd"},
		link{tmp + "/taken", "/elsewhere"},
		sticky{tmp + "/shm"},
		sticky{tmp + "/taken/x"},
	}
	m := &machinetest.Fake{Fail: map[string]error{"mount devtmpfs": unix.ENODEV}}
	done, failed := Apply(table, m, &kmsg.Timeline{})
	calls := m.Calls()
	if want := []string{"mount  /", "mount devtmpfs " + tmp + "/dev", "mount cgroup2 " + tmp + "/sys/fs/cgroup"}; !reflect.DeepEqual(calls, want) {
		t.Errorf("mount calls %q, want %q (proc already mounted)", calls, want)
	}
	if len(failed) != 2 || !strings.Contains(failed[0], "devtmpfs") ||
		!strings.HasSuffix(failed[0], "no such device: the kernel has no devtmpfs (CONFIG_DEVTMPFS=y)") ||
		!strings.HasPrefix(failed[1], "mkdir "+tmp+"/taken/x") {
		t.Errorf("failed %q", failed)
	}
	if len(done) != 3 || !strings.Contains(strings.Join(done, ","), "/proc already mounted") {
		t.Errorf("done %q", done)
	}
	for _, d := range []string{"/dev", "/sys/fs/cgroup"} {
		if _, err := os.Stat(tmp + d); err != nil {
			t.Errorf("target %s not created: %v", d, err)
		}
	}
	if l, _ := os.Readlink(tmp + "/fd"); l != "/proc/self/fd" {
		t.Errorf("link %q", l)
	}
	if st, err := os.Stat(tmp + "/shm"); err != nil || st.Mode()&(os.ModeSticky|0o777) != os.ModeSticky|0o777 {
		t.Errorf("shm: %v %v", st.Mode(), err)
	}
}

// TestTable: the mount table's order and flags, as data, then the
// skeleton.
func TestTable(t *testing.T) {
	var got []string
	for _, s := range Table {
		switch s := s.(type) {
		case mnt:
			got = append(got, s.fstype+":"+s.target)
		case link:
			got = append(got, s.path+"->"+s.target)
		case sticky:
			got = append(got, s.path+"/")
		}
	}
	want := []string{":/", "devtmpfs:/dev", "proc:/proc", "sysfs:/sys", "cgroup2:/sys/fs/cgroup", "devpts:/dev/pts",
		"pstore:/sys/fs/pstore", "/dev/fd->/proc/self/fd", "/dev/stdin->/proc/self/fd/0", "/dev/stdout->/proc/self/fd/1",
		"/dev/stderr->/proc/self/fd/2", "/etc/mtab->/proc/self/mounts", "/dev/shm/", "/tmp/"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("table %q, want %q", got, want)
	}
	if Table[5].(mnt).data != "gid=5,mode=0620,ptmxmode=000" || Table[1].(mnt).flags&unix.MS_STRICTATIME == 0 {
		t.Errorf("devpts data or devtmpfs flags wrong")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
