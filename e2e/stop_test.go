package e2e

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Every stop has a deadline, whatever the stages and the console do. The
// serial line is a socket the test holds; "\x13" on it is XOFF (an
// operator's Ctrl-S or Scroll Lock, a BMC's serial-over-LAN that stops
// reading), which stops the console's tty: what stages write to stdout
// waits, while the kernel's own printk, init's lines among them, still
// reaches the line.

const (
	xoff = "\x13"
	xon  = "\x11"
)

// stopBound is the documented worst case from a request to the final
// action (README, "Every stop has a deadline") for a grace period of 3 s
// and a reboot stage deadline of 5 s: the boot stage's grace and the wait
// after its SIGKILL, the relay's 100 ms, the same for the reboot stage
// after its deadline, teardown's grace and reap deadline, sync, the log's
// flush.
const stopBound = (3+5)*time.Second + 100*time.Millisecond + (5+3+5)*time.Second + 100*time.Millisecond +
	(3+5)*time.Second + 10*time.Second + time.Second

// TestQEMUStoppedConsolePoweroff: XOFF while the boot stage floods its
// stdout; a poweroff request; /etc/reboot writes one line to the stopped
// console and waits there. Init stops it at its deadline and the node
// powers off within the bound.
func TestQEMUStoppedConsolePoweroff(t *testing.T) {
	need(t)
	t.Parallel()
	img := archive(t, node{Boot: `echo flooding
( sleep 3; kill -USR2 1 ) &
while :; do echo "flood flood flood flood flood flood flood"; done`,
		Reboot: `echo "the reboot stage writes to the stopped console"; echo "it never gets here" >&2`})
	v := qemu{Kernel: vmlinuz, Initrd: img, Timeout: 3 * time.Minute, Serial: true,
		Cmdline: "loglevel=7 EP_GRACE_SECONDS=3 stageinit.reboot_timeout=5"}.boot(t)
	v.Expect("flooding")
	v.Type(xoff)
	v.Expect("init: poweroff requested (SIGUSR2)", "init: boot: killed by terminated", "init: reboot: started /etc/reboot",
		"init: reboot: /etc/reboot still running after 5s: stopped", "init: reboot: killed by terminated",
		"init: shutdown: poweroff", "reboot: Power down")
	c := v.Wait()
	if strings.Contains(c, "it never gets here") {
		t.Error("the reboot stage's write to the stopped console went through")
	}
	took := kmsgAt(t, c, "reboot: Power down") - kmsgAt(t, c, "init: poweroff requested (SIGUSR2)")
	t.Logf("request to power down: %.1fs (bound %v)", took, stopBound)
	if took > stopBound.Seconds() {
		t.Errorf("request to power down took %.1fs, more than the bound %v", took, stopBound)
	}
}

// TestQEMUStuckRebootStageKexec: an update staged, XOFF, and an
// /etc/reboot that ignores TERM and never ends: init stops it at its
// deadline, KILLs it after the grace period, kexecs, and generation 2
// says why generation 1's reboot stage was stopped.
func TestQEMUStuckRebootStageKexec(t *testing.T) {
	need(t)
	t.Parallel()
	gen2 := archive(t, node{Boot: kexecBoot, Reboot: rebootEcho})
	gen1 := archive(t, node{Boot: kexecBoot, Files: map[string]string{"/boot/vmlinuz": vmlinuz, "/boot/initrd": gen2},
		Reboot: `trap '' TERM; echo "the reboot stage ignores TERM"; while :; do sleep 1; done`})
	v := qemu{Kernel: vmlinuz, Initrd: gen1, Timeout: 4 * time.Minute, Serial: true,
		Cmdline: warnings + " EP_GRACE_SECONDS=3 stageinit.reboot_timeout=5"}.boot(t)
	v.Expect("generation 1 up")
	v.Type(xoff)
	v.Expect("init: reboot: /etc/reboot still running after 5s: stopped", "grace period of 3s over",
		"reason=kexec generation=2",
		`metric: stageinit_boot_reason{reason="kexec",previous="reboot:SIGTERM:deadline"} 1`,
		"kmsg: init: generation 2, after a kexec from generation 1 (reboot requested by SIGTERM; "+
			"its reboot stage was stopped at its deadline)",
		"generation 2 up:", "reboot stage: status=143 shutdown=poweroff", "reboot: Power down")
	v.Wait()
}

// TestQEMUSecondPress: a reboot stage that takes its time (its deadline is
// 10 minutes away); a second press of the power button stops it, and the
// node powers off at once.
func TestQEMUSecondPress(t *testing.T) {
	k := bzImage(t)
	t.Parallel()
	boot := "#!/bin/sh\n/bin/busybox --install -s /bin\n" + buttonBoot(nil, `trap 'exit 0' TERM`) + "\n"
	img := overlay(t, map[string][]byte{"/etc/boot": []byte(boot),
		// The button counts one press a second: the reboot stage says it
		// runs a second and a half after it starts.
		"/etc/reboot": []byte("#!/bin/sh\nsleep 1.5; echo 'a slow reboot stage'; while :; do sleep 1; done\n")})
	v := qemu{Kernel: k, Initrd: img, Timeout: 3 * time.Minute, Cmdline: warnings + " stageinit.reboot_timeout=600"}.boot(t)
	v.Expect("button ready")
	v.Monitor("system_powerdown")
	v.Expect("a slow reboot stage")
	v.Monitor("system_powerdown")
	v.Expect("init: reboot: /etc/reboot stopped: poweroff requested again (power button", "reboot: Power down")
	v.Wait()
}

// TestQEMUConsoleXON: XOFF; a press of the power button; init's lines go
// on reaching the serial line (printk does not wait for the tty) while
// the stages' output waits; after XON the stages' output comes, the
// operator types a line that the reboot stage reads from the console,
// and the kernel log holds every line of init's, none dropped.
func TestQEMUConsoleXON(t *testing.T) {
	k := bzImage(t)
	t.Parallel()
	boot := "#!/bin/sh\n/bin/busybox --install -s /bin\n" +
		buttonBoot(nil, `trap 'echo "boot got TERM after tick $i"; exit 0' TERM; i=0`) + "\n"
	boot = strings.Replace(boot, `while :; do sleep 0.1; done`, `while :; do i=$((i+1)); echo "tick $i"; sleep 0.1; done`, 1)
	img := overlay(t, map[string][]byte{"/etc/boot": []byte(boot), "/etc/reboot": []byte(`#!/bin/sh
echo "reboot stage: type a line"; read -r x < /dev/console; echo "reboot stage got: $x"
dmesg | grep -E 'init: (poweroff requested|boot: exited|reboot: started)' | sed 's/^/kmsg: /'
echo "init dropped: $(dmesg | grep -c 'log lines dropped')"
`)})
	v := qemu{Kernel: k, Initrd: img, Timeout: 3 * time.Minute, Serial: true, Cmdline: "loglevel=7"}.boot(t)
	v.Expect("button ready", "tick 3")
	v.Type(xoff)
	v.Monitor("system_powerdown")
	v.Expect("init: poweroff requested (power button")
	v.Type(xon)
	v.Expect("boot got TERM after tick", "reboot stage: type a line")
	v.Type("go\n")
	v.Expect("reboot stage got: go", "kmsg: ", "init: poweroff requested (power button", "init: boot: exited 0",
		"init: reboot: started /etc/reboot", "init dropped: 0", "reboot: Power down")
	v.Wait()
}

// kmsgAt is the kernel timestamp "[t] " just before the first s on the
// console (a printk line may start in the middle of a stage's line).
func kmsgAt(t *testing.T, console, s string) float64 {
	t.Helper()
	if m := regexp.MustCompile(`\[\s*([0-9.]+)\] ` + regexp.QuoteMeta(s)).FindStringSubmatch(console); m != nil {
		f, _ := strconv.ParseFloat(m[1], 64)
		return f
	}
	t.Errorf("console lacks a timestamped line with %q", s)
	return 0
}
