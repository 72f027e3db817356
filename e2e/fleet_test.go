package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// TestQEMUFleet: make fleet with two nodes, as an operator runs it:
// dnsmasq (DHCP, TFTP) and busybox httpd on a bridge with a tap per node,
// in a network namespace of their own; the nodes PXE-boot through their
// iPXE ROMs, fetch a signed update over HTTP, kexec into generation 2 and
// power off.
func TestQEMUFleet(t *testing.T) {
	need(t)
	if os.Geteuid() != 0 {
		if os.Getenv("STAGEINIT_E2E") != "" {
			t.Fatal("the fleet test needs root (a network namespace, a bridge, taps)")
		}
		t.Skip("skipping the fleet test: needs root")
	}
	t.Parallel()
	build := t.TempDir()
	mk := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(build, "mkinitramfs"), "./cmd/mkinitramfs")
	mk.Dir, mk.Env = repoRoot(), append(os.Environ(), "CGO_ENABLED=0")
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("go build mkinitramfs: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(build, "init"), read(t, initBin), 0o755); err != nil {
		t.Fatal(err)
	}
	cache := os.Getenv("STAGEINIT_CACHE")
	if cache == "" {
		cache = filepath.Join(repoRoot(), ".cache")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot(), "scripts/fleet.sh"), cache, build, "2")
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	t.Logf("make fleet NODES=2:\n%s", out)
	if err != nil {
		t.Fatalf("fleet: %v (node logs in %s)", err, filepath.Join(build, "fleet"))
	}
	for _, node := range []string{"node1", "node2"} {
		m := regexp.MustCompile(`(?m)^` + node + `\s+10\.77\.0\.\d+\s+1 2\s+kexec\s+\d+s\s+ok( \(reset once\))?$`).FindSubmatch(out)
		if m == nil {
			t.Errorf("%s did not go through generations 1 and 2 by a kexec and power off", node)
		} else if len(m[1]) > 0 {
			t.Logf("%s: its firmware got no lease in time and was reset once, as a BMC would", node)
		}
	}
}
