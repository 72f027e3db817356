package e2e

import (
	"strings"
	"testing"
	"time"
)

// kexecBoot is a boot stage for both generations: generation 1 stages an
// update and asks for a reboot; generation 2 sees the marker and powers off.
const kexecBoot = `echo "reason=$INIT_BOOT_REASON generation=$INIT_GENERATION"
grep -E '^stageinit_(generation|boot_reason|kexec_downtime_seconds)' /run/stageinit/stageinit.prom | sed 's/^/metric: /'
dmesg | grep -o 'init: generation .*' | sed 's/^/kmsg: /'
if grep -q stageinit.e2e=gen2 /proc/cmdline; then
  echo "generation 2 up: $(cat /proc/cmdline)"; kill -USR2 1; exec sleep 100
fi
echo "generation 1 up"
cp /boot/vmlinuz /kernel
[ -e /boot/initrd ] && cp /boot/initrd /kernel.initrd
echo "$(cat /proc/cmdline) stageinit.e2e=gen2" > /kernel.cmdline
kill -TERM 1; exec sleep 100`

// TestQEMUKexecRoundTrip: Debian's kernel kexecs itself with a new command
// line and an initrd, without going through firmware.
func TestQEMUKexecRoundTrip(t *testing.T) {
	need(t)
	t.Parallel()
	gen2 := archive(t, node{Boot: kexecBoot, Reboot: rebootEcho})
	gen1 := archive(t, node{Boot: kexecBoot, Reboot: rebootEcho,
		Files: map[string]string{"/boot/vmlinuz": vmlinuz, "/boot/initrd": gen2}})
	v := boot(t, vmlinuz, gen1, warnings, 4*time.Minute)
	v.Expect("reason=poweron generation=1", "metric: stageinit_generation 1", `metric: stageinit_boot_reason{reason="poweron",previous=""} 1`,
		"kmsg: init: generation 1, after a power-on", "generation 1 up", "reboot stage: status=143 shutdown=reboot",
		"reason=kexec generation=2", "metric: stageinit_generation 2", `metric: stageinit_boot_reason{reason="kexec",previous="reboot:SIGTERM"} 1`,
		"metric: stageinit_kexec_downtime_seconds ", "kmsg: init: generation 2, after a kexec from generation 1 (reboot requested by SIGTERM), down ",
		"generation 2 up:", "stageinit.e2e=gen2", "stageinit.gen=1", "reboot stage: status=143 shutdown=poweroff", "reboot: Power down")
	quickTeardown(t, v.Wait())
}

// warnings puts init's warnings (<4>) on the console despite quiet.
const warnings = "loglevel=5"

// quickTeardown fails when teardown waited out the grace period although
// every process had ended on TERM (kill(-1, 0) reaches kernel threads, so
// it cannot tell that nobody is left; wait4's ECHILD can).
func quickTeardown(t *testing.T, console string) {
	t.Helper()
	if strings.Contains(console, "teardown: processes left") {
		t.Error("teardown waited for the grace period although nothing was left")
	}
}

// TestQEMUKexecBadKernel: a garbage /kernel is refused by the kernel; init
// renames it, soft-restarts, and the next boot stage sees INIT_KEXEC_ERROR.
func TestQEMUKexecBadKernel(t *testing.T) {
	need(t)
	t.Parallel()
	img := archive(t, node{Boot: `if [ -n "$INIT_KEXEC_ERROR" ]; then
  echo "round 2: INIT_KEXEC_ERROR=$INIT_KEXEC_ERROR"; ls /kernel.failed; [ -e /kernel ] || echo "no /kernel"
  touch /poweroff; exit 0
fi
echo "this is not a kernel" > /kernel; echo "round 1"; kill -TERM 1; exec sleep 100`, Reboot: rebootEcho})
	v := boot(t, vmlinuz, img, "", 3*time.Minute)
	v.Expect("round 1", "reboot stage: status=143 shutdown=reboot",
		"round 2: INIT_KEXEC_ERROR=kexec_file_load /kernel: exec format error (not a bootable kernel image, or truncated)",
		"/kernel.failed", "no /kernel", "reboot: Power down")
	v.Wait()
}
