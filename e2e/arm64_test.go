package e2e

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The arm64 node: Debian's arm64 kernel and busybox-static, init built
// with GOARCH=arm64, qemu-system-aarch64 -M virt -cpu max under TCG,
// console on ttyAMA0, poweroff and reset through PSCI.

// TestQEMUArm64HappyBoot: the mounts, stage stdout on the console, stage
// stderr in the kernel log.
func TestQEMUArm64HappyBoot(t *testing.T) {
	needArch(t, arm64)
	t.Parallel()
	img := archiveFor(t, arm64, node{Boot: `echo "boot stdout on $(uname -m)"; cat /proc/mounts
echo "a line on stderr" >&2
i=0; until dmesg | grep -q 'a line on stderr'; do sleep 0.1; i=$((i+1)); [ $i -lt 300 ] || break; done
dmesg | grep -o 'boot\[[0-9]*\]: a line on stderr' | sed 's/^/kmsg: /'
touch /poweroff`, Reboot: rebootEcho})
	v := qemu{Target: arm64, Kernel: arm64.vmlinuz, Initrd: img, Timeout: 3 * time.Minute}.boot(t)
	v.Expect("boot stdout on aarch64",
		"none /dev devtmpfs rw,nosuid,noexec", "none /proc proc rw,nosuid,nodev,noexec", "none /sys sysfs rw,nosuid,nodev,noexec",
		"none /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec", "devpts /dev/pts devpts rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=000",
		"kmsg: boot[", "]: a line on stderr", "reboot stage: status=0 shutdown=reboot", "reboot: Power down")
	v.Wait()
}

// TestQEMUArm64RequestWithGrace: kill -TERM 1 from a boot stage that
// ignores TERM: it is killed at the grace period, /etc/reboot runs, and
// the machine resets (PSCI SYSTEM_RESET, which ends QEMU with -no-reboot).
func TestQEMUArm64RequestWithGrace(t *testing.T) {
	needArch(t, arm64)
	t.Parallel()
	img := archiveFor(t, arm64, node{Boot: `trap '' TERM; echo booted; kill -TERM 1; while :; do sleep 1; done`,
		Reboot: rebootEcho, Text: map[string]string{"/reboot": ""}})
	v := qemu{Target: arm64, Kernel: arm64.vmlinuz, Initrd: img, Timeout: 3 * time.Minute, Cmdline: "EP_GRACE_SECONDS=2 " + warnings}.boot(t)
	v.Expect("booted", "grace period of 2s over", "reboot stage: status=137 shutdown=reboot", "reboot: Restarting system")
	quickTeardown(t, v.Wait())
}

// TestQEMUArm64KexecRoundTrip: generation 1 kexecs Debian's arm64 kernel,
// gzip-compressed in /kernel (init decompresses it), with /kernel.initrd
// and /kernel.cmdline. Debian's arm64 kernels have no kexec_file_load:
// init falls back to kexec_load.
func TestQEMUArm64KexecRoundTrip(t *testing.T) {
	needArch(t, arm64)
	t.Parallel()
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(read(t, arm64.vmlinuz))
	w.Close()
	kernel := filepath.Join(t.TempDir(), "vmlinuz.gz")
	if err := os.WriteFile(kernel, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	gen2 := archiveFor(t, arm64, node{Boot: kexecBoot, Reboot: rebootEcho})
	gen1 := archiveFor(t, arm64, node{Boot: kexecBoot, Reboot: rebootEcho,
		Files: map[string]string{"/boot/vmlinuz": kernel, "/boot/initrd": gen2}})
	v := qemu{Target: arm64, Kernel: arm64.vmlinuz, Initrd: gen1, Timeout: 5 * time.Minute, Cmdline: warnings}.boot(t)
	v.Expect("generation 1 up", "reboot stage: status=143 shutdown=reboot",
		"generation 2 up:", "stageinit.e2e=gen2", "reboot stage: status=143 shutdown=poweroff", "reboot: Power down")
	quickTeardown(t, v.Wait())
}
