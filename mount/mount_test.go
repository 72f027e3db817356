package mount

import (
	"os"
	"reflect"
	"strings"
	"testing"

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

func TestApply(t *testing.T) {
	dir := t.TempDir()
	table := []Mount{
		{"", "/", "", unix.MS_REMOUNT | unix.MS_NOSUID, ""},
		{"none", dir + "/dev", "devtmpfs", unix.MS_NOSUID, ""},
		{"none", "/proc", "proc", unix.MS_NOSUID, ""}, // the host's: already a mount point
		{"none", dir + "/sys/fs/cgroup", "cgroup2", unix.MS_NOSUID, ""},
	}
	m := &machinetest.Fake{Fail: map[string]error{"mount devtmpfs": unix.EPERM}}
	done, failed := Apply(table, m, nil)
	calls := m.Calls()
	if want := []string{"mount  /", "mount devtmpfs " + dir + "/dev", "mount cgroup2 " + dir + "/sys/fs/cgroup"}; !reflect.DeepEqual(calls, want) {
		t.Errorf("mount calls %q, want %q (proc already mounted)", calls, want)
	}
	if len(failed) != 1 || !strings.Contains(failed[0], "devtmpfs") || !strings.Contains(failed[0], "operation not permitted") {
		t.Errorf("failed %q", failed)
	}
	if len(done) != 3 || !strings.Contains(strings.Join(done, ","), "/proc already mounted") {
		t.Errorf("done %q", done)
	}
	for _, d := range []string{"/dev", "/sys/fs/cgroup"} {
		if _, err := os.Stat(dir + d); err != nil {
			t.Errorf("target %s not created: %v", d, err)
		}
	}
}

// TestTable: the mount table's order and flags, as data.
func TestTable(t *testing.T) {
	var got []string
	for _, m := range Table {
		got = append(got, m.FSType+":"+m.Target)
	}
	want := []string{":/", "devtmpfs:/dev", "proc:/proc", "sysfs:/sys", "cgroup2:/sys/fs/cgroup", "devpts:/dev/pts", "pstore:/sys/fs/pstore"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("table order %q, want %q", got, want)
	}
	if Table[5].Data != "gid=5,mode=0620,ptmxmode=000" || Table[1].Flags&unix.MS_STRICTATIME == 0 {
		t.Errorf("devpts data or devtmpfs flags wrong")
	}
}
