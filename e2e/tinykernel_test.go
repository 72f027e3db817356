package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bzImage is the tinyconfig kernel of make kernel, with build/initramfs.cpio
// (the example node) built in.
func bzImage(t *testing.T) string {
	t.Helper()
	need(t)
	p := os.Getenv("STAGEINIT_BZIMAGE")
	if p == "" {
		p = filepath.Join(repoRoot(), "build", "bzImage")
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("STAGEINIT_E2E") != "" {
			t.Fatalf("%s missing: make test builds it with make kernel", p)
		}
		t.Skipf("skipping: %s missing (run make kernel)", p)
	}
	return p
}

// TestQEMUTinyKernelBoots: the kernel boots to the built-in /etc/boot, its
// console shows the stage output, and it powers off.
func TestQEMUTinyKernelBoots(t *testing.T) {
	k := bzImage(t)
	t.Parallel()
	v := boot(t, k, "", "", 3*time.Minute)
	v.Expect("== demo node: generation 1", "none /sys/fs/cgroup cgroup2",
		"== generation 1 is up: powering off", "shutdown=poweroff", "reboot: Power down")
	v.Wait()
}

// TestQEMUTinyKernelKexec: the kexec round trip with the archive built in:
// an external initrd only adds /boot/vmlinuz (the kernel itself); generation
// 1 kexecs it without /kernel.initrd and generation 2 runs from the
// built-in archive alone.
func TestQEMUTinyKernelKexec(t *testing.T) {
	k := bzImage(t)
	t.Parallel()
	v := boot(t, k, overlay(t, map[string][]byte{"/boot/vmlinuz": read(t, k)}), "", 4*time.Minute)
	v.Expect("== demo node: generation 1", "staging an in-place kernel update",
		"shutdown=reboot", "== demo node: generation 2", "== generation 2 is up: powering off", "reboot: Power down")
	v.Wait()
}

// TestQEMUTinyKernelNoWarnings: the project's kernel, as its fragment
// makes it, with the watchdog the tests use, gives init nothing to warn
// about: the kernel log has no line of init's at warning or worse.
func TestQEMUTinyKernelNoWarnings(t *testing.T) {
	k := bzImage(t)
	t.Parallel()
	img := overlay(t, map[string][]byte{"/etc/reboot": []byte(`#!/bin/sh
dmesg -r | sed -n 's/^<\([0-9]*\)>\(\[[^]]*\] *\)\{0,1\}init: /\1 /p' | while read -r p rest; do
  [ $((p % 8)) -le 4 ] && echo "init warned: <$p> $rest"
done
echo "init's lines: $(dmesg | grep -c 'init: ')"
`)})
	v := qemu{Kernel: k, Initrd: img, Timeout: 3 * time.Minute, Args: []string{"-device", "i6300esb"},
		Cmdline: "watchdog.stop_on_reboot=0"}.boot(t)
	v.Expect("== generation 1 is up: powering off", "init's lines: ", "reboot: Power down")
	c := v.Wait()
	if strings.Contains(c, "init warned:") || strings.Contains(c, "init's lines: 0") {
		t.Errorf("init warned on the project's own kernel, or the kernel log has none of its lines")
	}
}
