package e2e

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The power button: QEMU's system_powerdown presses the ACPI power button
// (amd64) or the gpio-keys power key of the virt machine (arm64), as a
// BMC's "graceful shutdown" or `virsh shutdown` does.

// debModule is a module of the target's Debian kernel.
func debModule(tg *target, rel string) string {
	root := filepath.Dir(filepath.Dir(tg.vmlinuz))
	return filepath.Join(root, "lib/modules", strings.TrimPrefix(filepath.Base(tg.vmlinuz), "vmlinuz-"), "kernel/drivers", rel)
}

// buttonBoot loads the modules given (after boot, as a node on a
// distribution kernel does), waits until init has found the button and
// says so on the console, with trap as its TERM trap.
func buttonBoot(mods []string, trap string) string {
	s := trap + "\n"
	for _, m := range mods {
		s += "insmod /lib/modules/" + filepath.Base(m) + "\n"
	}
	return s + `i=0; until dmesg | grep -q 'init: power button: /dev/input/'; do sleep 0.1; i=$((i+1)); [ $i -lt 300 ] || break; done
echo "button ready"; while :; do sleep 0.1; done`
}

const buttonReboot = rebootEcho + `
dmesg | grep -E 'input: |init: (power button|poweroff requested|grace period)' | sed 's/^/kmsg: /'
for t in /proc/1/task/*; do echo "init thread waits in $(cat $t/wchan)"; done; echo "init threads listed"`

func buttonNode(tg *target, mods []string, trap string) node {
	n := node{Boot: buttonBoot(mods, trap), Reboot: buttonReboot, Files: map[string]string{}}
	for _, m := range mods {
		n.Files["/lib/modules/"+filepath.Base(m)] = m
	}
	return n
}

// kmsgTime is the kernel timestamp of the first console line "kmsg: [t]
// ..." that contains s, and kmsgLast of the last one.
func kmsgTime(t *testing.T, console, s string) float64 {
	t.Helper()
	if at := kmsgTimes(console, s); len(at) > 0 {
		return at[0]
	}
	t.Errorf("console lacks a kmsg line with %q", s)
	return 0
}

func kmsgLast(t *testing.T, console, s string) float64 {
	t.Helper()
	if at := kmsgTimes(console, s); len(at) > 0 {
		return at[len(at)-1]
	}
	t.Errorf("console lacks a kmsg line with %q", s)
	return 0
}

func kmsgTimes(console, s string) []float64 {
	var at []float64
	for _, l := range strings.Split(console, "\n") {
		if m := regexp.MustCompile(`kmsg: \[\s*([0-9.]+)\]`).FindStringSubmatch(l); m != nil && strings.Contains(l, s) {
			f, _ := strconv.ParseFloat(m[1], 64)
			at = append(at, f)
		}
	}
	return at
}

// TestQEMUPowerButtonDebian: Debian's amd64 kernel with button.ko and
// evdev.ko loaded by the boot stage. init finds the button within a
// second of the driver; two presses at least 1 s apart during a boot
// stage that ignores TERM: the second does not extend the 6 s grace
// period, the reboot stage runs with INIT_SHUTDOWN=poweroff, the VM powers
// off.
func TestQEMUPowerButtonDebian(t *testing.T) {
	need(t)
	t.Parallel()
	mods := []string{debModule(amd64, "input/evdev.ko"), debModule(amd64, "acpi/button.ko")}
	// The stage's trap waits a second (guest time) before it asks for the
	// second press: the two presses are at least that far apart.
	img := archive(t, buttonNode(amd64, mods, `trap 'echo "boot got TERM, staying"; sleep 1; echo "press again"' TERM`))
	v := boot(t, vmlinuz, img, warnings+" EP_GRACE_SECONDS=6", 3*time.Minute)
	v.Await("button ready", 2*time.Minute)
	v.Monitor("system_powerdown")
	v.Expect("boot got TERM, staying", "press again")
	v.Monitor("system_powerdown")
	v.Expect("grace period of 6s over", "reboot stage: status=137 shutdown=poweroff",
		"kmsg: ", "init: power button: /dev/input/event", "init threads listed", "reboot: Power down")
	c := v.Wait()
	// Init holds no thread in a system call of its own: the signal pipe,
	// inotify, the button's reader and the relay wait in the Go runtime's
	// poller (one thread in epoll_wait), the idle threads in futex.
	for _, m := range regexp.MustCompile(`init thread waits in (\w+)`).FindAllStringSubmatch(c, -1) {
		switch m[1] {
		case "futex_wait_queue", "do_epoll_wait", "do_nanosleep", "hrtimer_nanosleep", "0":
		default:
			t.Errorf("an init thread waits in %s", m[1])
		}
	}
	if !strings.Contains(c, "init thread waits in do_epoll_wait") {
		t.Error("no init thread in the runtime's poller")
	}
	found := kmsgTime(t, c, "init: power button: /dev/input/event") - kmsgTime(t, c, "input: Power Button as")
	first, over := kmsgTime(t, c, "poweroff requested (power button /dev/input/event"), kmsgTime(t, c, "grace period of 6s over")
	second := kmsgLast(t, c, "poweroff requested (power button /dev/input/event")
	presses := strings.Count(c, "poweroff requested (power button")
	t.Logf("button found %.3fs after its driver; grace over %.3fs after the first of %d presses, %.3fs after the second",
		found, over-first, presses, over-second)
	if found < 0 || found > 1 {
		t.Errorf("init found the button %.3fs after the driver made it, want within 1 s", found)
	}
	// Re-armed by the second press, the grace period would end 6 s after
	// it; not re-armed, at most 5 s after it.
	if presses != 2 || second-first < 1 || over-second > 5.5 {
		t.Errorf("%d presses logged %.3fs apart, grace over %.3fs after the second: the second press extended the grace period",
			presses, second-first, over-second)
	}
}

// TestQEMUPowerButtonTinyKernel: the project's kernel, with the ACPI
// button and evdev built in (kernel-config/stageinit.config).
func TestQEMUPowerButtonTinyKernel(t *testing.T) {
	k := bzImage(t)
	t.Parallel()
	boot := "#!/bin/sh\n/bin/busybox --install -s /bin\n" + buttonBoot(nil, `trap 'echo "boot got TERM"; exit 0' TERM`) + "\n"
	img := overlay(t, map[string][]byte{"/etc/boot": []byte(boot), "/etc/reboot": []byte("#!/bin/sh\n" + buttonReboot + "\n")})
	v := qemu{Kernel: k, Initrd: img, Timeout: 3 * time.Minute, Cmdline: warnings}.boot(t)
	v.Await("button ready", 2*time.Minute)
	v.Monitor("system_powerdown")
	v.Expect("boot got TERM", "reboot stage: status=0 shutdown=poweroff",
		"poweroff requested (power button /dev/input/event", "reboot: Power down")
	v.Wait()
}

// TestQEMUPowerButtonArm64: Debian's arm64 kernel on QEMU's virt machine,
// whose power key is a gpio-keys device (gpio_keys.ko and evdev.ko).
func TestQEMUPowerButtonArm64(t *testing.T) {
	needArch(t, arm64)
	t.Parallel()
	mods := []string{debModule(arm64, "input/evdev.ko"), debModule(arm64, "input/keyboard/gpio_keys.ko")}
	img := archiveFor(t, arm64, buttonNode(arm64, mods, `trap 'echo "boot got TERM"; exit 0' TERM`))
	v := qemu{Target: arm64, Kernel: arm64.vmlinuz, Initrd: img, Timeout: 4 * time.Minute, Cmdline: warnings}.boot(t)
	v.Await("button ready", 3*time.Minute)
	v.Monitor("system_powerdown")
	v.Expect("boot got TERM", "reboot stage: status=0 shutdown=poweroff",
		"poweroff requested (power button /dev/input/event", "reboot: Power down")
	v.Wait()
}
