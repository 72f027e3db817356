package e2e

import (
	"os"
	"path/filepath"
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
