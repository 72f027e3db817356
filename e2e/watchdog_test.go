package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/u-root/u-root/pkg/cpio"
)

// overlay writes an external initrd of files (archive path: content;
// every file executable) to put over the tiny kernel's built-in archive:
// the kernel unpacks it after the built-in one, so its /etc/boot wins.
func overlay(t *testing.T, files map[string][]byte) string {
	t.Helper()
	var recs []cpio.Record
	dirs := map[string]bool{}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		name = strings.TrimPrefix(name, "/")
		for d := filepath.Dir(name); d != "."; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	var ds []string
	for d := range dirs {
		ds = append(ds, d)
	}
	sort.Strings(ds) // parents before children
	for _, d := range ds {
		recs = append(recs, cpio.Directory(d, 0o755))
	}
	for _, name := range names {
		recs = append(recs, cpio.StaticRecord(files[name], cpio.Info{Name: strings.TrimPrefix(name, "/"), Mode: cpio.S_IFREG | 0o755}))
	}
	var buf bytes.Buffer
	if err := writeRecords(&buf, append(recs, cpio.TrailerRecord), nil); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "overlay.cpio")
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestQEMUWatchdogResetsABadKernel: generation 1 (the tiny kernel, whose
// i6300esb driver init pets) kexecs Debian's kernel with an initrd whose
// /init only sleeps. Init leaves the watchdog counting with the kexec
// allowance; nothing in the new system pets it, so the hardware resets
// the VM and generation 1 boots again.
func TestQEMUWatchdogResetsABadKernel(t *testing.T) {
	k := bzImage(t)
	t.Parallel()
	sleeper := overlay(t, map[string][]byte{
		"/bin/busybox": read(t, "/bin/busybox"),
		"/init":        []byte("#!/bin/busybox sh\necho 'sleeper up: no init pets the watchdog'\nexec /bin/busybox sleep 100000\n"),
	})
	gen1 := overlay(t, map[string][]byte{
		"/boot/vmlinuz": read(t, vmlinuz),
		"/boot/sleeper": read(t, sleeper),
		"/etc/boot": []byte(`#!/bin/sh
/bin/busybox --install -s /bin
echo "generation 1 up, reason=$INIT_BOOT_REASON"
grep '^stageinit_boot_reason' /run/stageinit/stageinit.prom | sed 's/^/metric: /'
cp /boot/vmlinuz /kernel; cp /boot/sleeper /kernel.initrd
echo "console=ttyS0 quiet" > /kernel.cmdline
kill -TERM 1; exec sleep 1000
`)})
	v := qemu{Kernel: k, Initrd: gen1, Timeout: 4 * time.Minute, Reboots: true, Args: []string{"-device", "i6300esb"},
		Cmdline: "loglevel=7 watchdog.stop_on_reboot=0 stageinit.kexec_watchdog=15"}.boot(t)
	v.Expect("generation 1 up, reason=poweron", "watchdog: /dev/watchdog0 armed", "panic=10")
	v.Await("watchdog: left counting, 15s", 2*time.Minute)
	handedOver := time.Now()
	v.Await("sleeper up", 2*time.Minute)
	v.Await("boot reason: watchdog: the watchdog says it reset the machine", 90*time.Second)
	el := time.Since(handedOver)
	t.Logf("generation 1 back %v after the hand-over (allowance 15 s)", el.Round(time.Second))
	if el < 10*time.Second {
		t.Errorf("reset after %v, before the allowance was up: not the watchdog", el)
	}
	v.Expect("generation 1 up, reason=watchdog", `metric: stageinit_boot_reason{reason="watchdog",previous=""} 1`)
	c := v.Console()
	v.noPanic(c)
	if strings.Contains(c, "kexec safety net is off") {
		t.Error("init warned about stop_on_reboot although it is 0")
	}
}

// TestQEMUPanicRebootsAndPstore: generation 1 kexecs into a command line
// whose init does not exist, with no panic= of its own. Init adds
// panic=10: the new kernel panics, ramoops keeps its log in RAM, and ten
// seconds later the VM resets. That boot's reason is panic, and its init
// has moved the records to /run/stageinit/pstore: pstore is empty. It asks
// for a cold reboot, whose shutdown line goes to pstore's pmsg; the boot
// after the cold reset finds that line, and its reason is not panic: a
// panic is reported once.
func TestQEMUPanicRebootsAndPstore(t *testing.T) {
	k := bzImage(t)
	t.Parallel()
	ramoops := "memmap=1M$0x3f000000 ramoops.mem_address=0x3f000000 ramoops.mem_size=0x100000 " +
		"ramoops.record_size=0x10000 ramoops.pmsg_size=0x10000"
	gen1 := overlay(t, map[string][]byte{
		"/boot/vmlinuz": read(t, k),
		"/etc/boot": []byte(`#!/bin/sh
/bin/busybox --install -s /bin
p=/run/stageinit/pstore
if [ -e $p/dmesg-ramoops-0 ]; then
  echo "after the panic: $(ls $p | tr '\n' ' '), left in pstore: $(ls /sys/fs/pstore | wc -l), reason=$INIT_BOOT_REASON"
  grep '^stageinit_boot_reason' /run/stageinit/stageinit.prom | sed 's/^/metric: /'
  touch /reboot; kill -TERM 1; exec sleep 1000
fi
if [ -e $p/pmsg-ramoops-0 ]; then
  echo "after the cold reset: $(cat $p/pmsg-ramoops-0), reason=$INIT_BOOT_REASON"
  grep '^stageinit_boot_reason' /run/stageinit/stageinit.prom | sed 's/^/metric: /'
  touch /poweroff; exit 0
fi
echo "generation 1 up"
cp /boot/vmlinuz /kernel
echo 'console=ttyS0 ` + ramoops + ` rdinit=/nonexistent init=/nonexistent' > /kernel.cmdline
kill -TERM 1; exec sleep 1000
`)})
	v := qemu{Kernel: k, Initrd: gen1, Timeout: 4 * time.Minute, Reboots: true, Cmdline: "loglevel=7 " + ramoops}.boot(t)
	v.Expect("generation 1 up", "added panic=10", "Kernel panic - not syncing: Requested init /nonexistent failed",
		"Rebooting in 10 seconds", "records of an earlier boot, moved to /run/stageinit/pstore: dmesg-ramoops-0",
		"init: generation 1, after a reset by panic",
		"after the panic: dmesg-ramoops-0 ", ", left in pstore: 0, reason=panic", `metric: stageinit_boot_reason{reason="panic",previous=""} 1`,
		"shutdown: cold reboot", "init: generation 1, after a power-on",
		"after the cold reset: init: shutdown: cold reboot, reboot requested by SIGTERM", "reason=poweron",
		`metric: stageinit_boot_reason{reason="poweron",previous=""} 1`, "reboot: Power down")
	<-v.done // a panic is the point: no noPanic
}

// TestQEMUWatchdogKexecRoundTrip: generation 2's init takes the watchdog
// over after the kexec: the VM is not reset during three timeouts, and
// poweroff disarms it and ends QEMU (-no-reboot: a reset would end it too,
// without "Power down").
func TestQEMUWatchdogKexecRoundTrip(t *testing.T) {
	k := bzImage(t)
	t.Parallel()
	boot := []byte(`#!/bin/sh
/bin/busybox --install -s /bin
if grep -q stageinit.e2e=gen2 /proc/cmdline; then
  echo "generation 2 up"; sleep 15; echo "generation 2 still up"; kill -USR2 1; exec sleep 100
fi
echo "generation 1 up"
cp /boot/vmlinuz /kernel; cp /boot/gen2 /kernel.initrd
echo "$(cat /proc/cmdline) stageinit.e2e=gen2" > /kernel.cmdline
kill -TERM 1; exec sleep 1000
`)
	gen2 := overlay(t, map[string][]byte{"/etc/boot": boot})
	gen1 := overlay(t, map[string][]byte{"/boot/vmlinuz": read(t, k), "/boot/gen2": read(t, gen2), "/etc/boot": boot})
	v := qemu{Kernel: k, Initrd: gen1, Timeout: 4 * time.Minute, Args: []string{"-device", "i6300esb"},
		Cmdline: "loglevel=7 stageinit.watchdog=5 watchdog.stop_on_reboot=0"}.boot(t)
	v.Expect("watchdog: /dev/watchdog0 armed, timeout 5s", "generation 1 up", "watchdog: left counting, 120s",
		"stageinit.e2e=gen2", "watchdog: /dev/watchdog0 armed, timeout 5s", "generation 2 up", "generation 2 still up",
		"watchdog: disarmed", "reboot: Power down")
	v.Wait()
}

// TestQEMUBootLoopBackoff: a node without /etc/boot does not spin: the
// rounds come further and further apart.
func TestQEMUBootLoopBackoff(t *testing.T) {
	need(t)
	t.Parallel()
	v := boot(t, vmlinuz, archive(t, node{}), "", 3*time.Minute)
	re := regexp.MustCompile(`\[\s*(\d+\.\d+)\] init: boot: execve /etc/boot`)
	for i := 0; i < 5; i++ {
		v.Await("init: boot: execve /etc/boot", time.Minute)
	}
	c := v.Console()
	v.noPanic(c)
	var at []float64
	for _, m := range re.FindAllStringSubmatch(c, -1) {
		f, _ := strconv.ParseFloat(m[1], 64)
		at = append(at, f)
	}
	for i := 2; i < len(at); i++ {
		if gap, prev := at[i]-at[i-1], at[i-1]-at[i-2]; gap < 1.5*prev {
			t.Errorf("round %d came %.1f s after the one before, which came %.1f s after its own: gaps %v", i, gap, prev, at)
		}
	}
}
