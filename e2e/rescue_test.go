package e2e

import (
	"strings"
	"testing"
	"time"
)

// rescueBoot is an /etc/boot that says it ran and powers the node off.
const rescueBoot = "#!/bin/sh\necho \"boot ran: $INIT_BOOT_REASON\"; touch /poweroff\n"

// TestQEMURescueShell: with stageinit.rescue the operator at the serial
// line gets /etc/rescue before /etc/boot runs: here busybox's sulogin,
// which refuses a wrong password and gives a shell for the right one. The
// shell has the serial line as its controlling terminal (tty, job control:
// Ctrl-C ends a sleep and the shell lives); when it exits, the boot goes on.
// The test awaits the shell's and the stages' lines in order, and init's
// own lines only at the end: init's log reaches the console through its
// queue and the kernel, with no order against what a stage writes to the
// terminal.
func TestQEMURescueShell(t *testing.T) {
	k := bzImage(t)
	t.Parallel()
	img := overlay(t, map[string][]byte{
		"/etc/boot":   []byte(rescueBoot),
		"/etc/rescue": []byte("#!/bin/sh\n/bin/busybox --install -s /bin\nexec /bin/busybox sulogin\n"),
		"/etc/passwd": []byte("root:x:0:0:root:/root:/bin/sh\n"),
		// busybox mkpasswd -m sha512 secret
		"/etc/shadow": []byte("root:$6$FPQFXsd4EwTMy5ls$.lMWHnItns6hnJLGVJl955aW3Eisagf..sXMfF/Z6RYPBGdPb/9ctg.jYZw2RYEAZhG0" +
			"glqGfyoWYeVMieC0B1:19000:0:99999:7:::\n"),
	})
	v := qemu{Kernel: k, Initrd: img, Timeout: 4 * time.Minute, Serial: true,
		Cmdline: "loglevel=7 stageinit.rescue"}.boot(t)
	v.Expect("Give root password")
	v.Type("wrong\n")
	v.Expect("Login incorrect", "Give root password")
	v.Type("secret\n")
	v.Expect("starting shell", "/ # ")
	v.Type("echo $((6*7))\n")
	v.Expect("42")
	v.Type("tty\n")
	v.Expect("/dev/ttyS0")
	v.Type("echo $((1+1))sleeping; sleep 1000\n")
	v.Expect("2sleeping")
	v.Type("\x03") // Ctrl-C
	v.Type("echo $((2+3))alive\n")
	v.Expect("5alive")
	v.Type("exit\n")
	v.Expect("boot ran: poweron", "reboot: Power down")
	c := v.Wait()
	for _, s := range []string{"init: rescue: /etc/rescue on /dev/ttyS0 (stageinit.rescue)", "init: rescue: exited 0"} {
		if !strings.Contains(c, s) {
			t.Errorf("console lacks %q", s)
		}
	}
	if strings.Index(c, "boot ran") < strings.Index(c, "5alive") {
		t.Error("/etc/boot ran before the rescue shell ended")
	}
}

// TestQEMURescueOnFail: with stageinit.rescue=onfail and an /etc/boot that
// always fails, the shell (/bin/sh -i: no /etc/rescue) comes by itself
// after 7 failed rounds; the watchdog (QEMU's i6300esb, 5 s) does not
// reset the node while the shell runs for 25 s (-no-reboot: a reset would
// end QEMU); kill -USR2 1 from the shell powers the node off.
func TestQEMURescueOnFail(t *testing.T) {
	k := bzImage(t)
	t.Parallel()
	img := overlay(t, map[string][]byte{
		"/etc/boot": []byte("#!/bin/sh\n/bin/busybox --install -s /bin\necho \"boot failed\"; exit 1\n"),
	})
	v := qemu{Kernel: k, Initrd: img, Timeout: 6 * time.Minute, Serial: true, Args: []string{"-device", "i6300esb"},
		Cmdline: "loglevel=7 stageinit.rescue=onfail stageinit.watchdog=5"}.boot(t)
	for i := 0; i < 7; i++ {
		v.Expect("boot failed")
	}
	v.Expect("/ # ")
	v.Type("echo $((6*7))\n")
	v.Expect("42")
	v.Type("sleep 25; echo $((3*3))slept\n")
	v.Expect("9slept")
	v.Type("kill -USR2 1\n")
	v.Expect("init: poweroff requested (SIGUSR2)", "init: rescue: killed by", "watchdog: disarmed", "reboot: Power down")
	c := v.Wait()
	for _, s := range []string{"watchdog: /dev/watchdog0 armed, timeout 5s",
		"7 rounds in a row: the rescue shell comes", "init: rescue: /bin/sh on /dev/ttyS0"} {
		if !strings.Contains(c, s) {
			t.Errorf("console lacks %q", s)
		}
	}
	if n := strings.Count(c, "boot failed"); n != 7 {
		t.Errorf("%d failed rounds before the shell, want 7", n)
	}
}
