package e2e

import (
	"strings"
	"testing"
	"time"
)

const rebootEcho = `echo "reboot stage: status=$INIT_BOOT_STATUS shutdown=$INIT_SHUTDOWN"`

// TestQEMUHappyBoot: the mount table (README), stdout on the console, and 5,000
// stderr lines (some over 1 KiB) complete in dmesg with nothing suppressed.
func TestQEMUHappyBoot(t *testing.T) {
	need(t)
	t.Parallel()
	img := archive(t, node{Boot: `echo "boot stdout"; cat /proc/mounts
long=$(head -c 2500 /dev/zero | tr '\0' 'x')
i=1; while [ $i -le 5000 ]; do
  if [ $((i % 100)) = 0 ]; then echo "L${i}x $long" >&2; else echo "L${i}x" >&2; fi
  i=$((i+1))
done
sleep 1
dmesg > /tmp/d
echo "distinct=$(grep -o 'boot\[[0-9]*\]: L[0-9]*x' /tmp/d | sort -u | wc -l) suppressed=$(grep -c suppressed /tmp/d) longrecs=$(grep -c 'boot\[[0-9]*\]: xxxx' /tmp/d)"
touch /poweroff`, Reboot: rebootEcho})
	v := boot(t, vmlinuz, img, "", 3*time.Minute)
	v.Expect("boot stdout",
		"rootfs / rootfs rw,nosuid",
		"none /dev devtmpfs rw,nosuid,noexec",
		"none /proc proc rw,nosuid,nodev,noexec,relatime 0 0",
		"none /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0",
		"none /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime",
		"devpts /dev/pts devpts rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=000 0 0",
		"distinct=5000 suppressed=0 longrecs=", "reboot stage: status=0 shutdown=reboot", "reboot: Power down")
	if strings.Contains(v.Wait(), "longrecs=0") {
		t.Error("the lines over 1 KiB were not split into further records")
	}
}

// TestQEMURequests: kill -TERM/-USR2/-USR1 1 from the boot stage, and
// Ctrl-Alt-Del from the QEMU monitor.
func TestQEMURequests(t *testing.T) {
	need(t)
	for _, tc := range []struct {
		name, how, shutdown, end string
	}{
		{"TERM", "kill -TERM 1", "reboot", "reboot: Restarting system"},
		{"USR2", "kill -USR2 1", "poweroff", "reboot: Power down"},
		{"USR1", "kill -USR1 1", "halt", "reboot: System halted"},
		{"ctrl-alt-delete", "sendkey", "reboot", "reboot: Restarting system"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			how := tc.how
			if how == "sendkey" {
				how = "echo ready-for-cad"
			}
			img := archive(t, node{Boot: "echo booted; " + how + "; while :; do sleep 1; done",
				Reboot: rebootEcho, Text: map[string]string{"/reboot": ""}})
			v := boot(t, vmlinuz, img, warnings, 3*time.Minute)
			v.Expect("booted")
			if tc.how == "sendkey" {
				v.Expect("ready-for-cad")
				v.Monitor("sendkey ctrl-alt-delete")
			}
			// A halt does not end QEMU: the end line is the last one.
			v.Expect("reboot stage: status=143 shutdown="+tc.shutdown, tc.end)
			c := v.Console()
			v.noPanic(c)
			quickTeardown(t, c)
		})
	}
}

// TestQEMUGraceAndDaemons: a boot stage that ignores TERM and leaves
// daemons behind (setsid, double fork) is killed at the grace period and
// the node still reboots cleanly.
func TestQEMUGraceAndDaemons(t *testing.T) {
	need(t)
	t.Parallel()
	img := archive(t, node{Boot: `trap '' TERM
setsid sh -c 'trap "" TERM; while :; do sleep 1; done' &
( ( trap '' TERM; while :; do sleep 1; done ) & ) &
echo booted; kill -TERM 1; while :; do sleep 1; done`,
		Reboot: rebootEcho + `; echo "left: $(ps -o pid,comm | grep -c sleep)"`,
		Text:   map[string]string{"/reboot": ""}})
	v := boot(t, vmlinuz, img, "EP_GRACE_SECONDS=2", 3*time.Minute)
	v.Expect("booted", "reboot stage: status=137 shutdown=reboot", "reboot: Restarting system")
	v.Wait()
}

// TestQEMUNoConsoleNode: an archive without /dev/console still boots (init
// opens it after mounting devtmpfs), and console= pointing at a missing
// port does not kill init.
func TestQEMUNoConsoleNode(t *testing.T) {
	need(t)
	t.Run("no /dev/console in the archive", func(t *testing.T) {
		t.Parallel()
		img := archive(t, node{Boot: `echo "stdout reached the console"; touch /poweroff`, Drop: []string{"/dev/console"}})
		v := boot(t, vmlinuz, img, "", 3*time.Minute)
		v.Expect("stdout reached the console", "reboot: Power down")
		v.Wait()
	})
	t.Run("console on a missing port", func(t *testing.T) {
		t.Parallel()
		img := archive(t, node{Boot: `echo "marker via ttyS0" > /dev/ttyS0; echo "stdout somewhere"; touch /poweroff`})
		v := boot(t, vmlinuz, img, "console=ttyS3", 3*time.Minute)
		v.Expect("marker via ttyS0", "reboot: Power down")
		v.Wait()
	})
}

// TestQEMUOutOfMemory: a stage that eats all memory is killed by the OOM
// killer; pid 1 stays and goes on to /etc/reboot.
func TestQEMUOutOfMemory(t *testing.T) {
	need(t)
	t.Parallel()
	img := archive(t, node{Boot: `echo eating; tail /dev/zero; echo "tail ended $?"`, Reboot: rebootEcho,
		Text: map[string]string{"/poweroff": ""}})
	v := boot(t, vmlinuz, img, "", 3*time.Minute)
	v.Expect("eating", "tail ended 137", "reboot stage: status=0", "reboot: Power down")
	v.Wait()
}
