package e2e

import (
	"regexp"
	"testing"
	"time"
)

// TestQEMUForkBomb: a fork bomb in the boot stage is held by its cgroup's
// pids.max and killed as a whole at the grace period; pid 1 keeps
// answering signals and the node powers off cleanly. The request comes
// once the bomb has hit pids.max, from a subshell that forks nothing
// more (read, [ ], echo and kill are the shell's own); the stage itself
// forks nothing more either (a fork that fails would end it with 2).
func TestQEMUForkBomb(t *testing.T) {
	need(t)
	t.Parallel()
	img := archive(t, node{Boot: `( while read -r k n < /sys/fs/cgroup/boot/pids.events; [ "$n" = 0 ]; do :; done
  echo "asking for poweroff"; kill -USR2 1 ) &
echo bombing; b() { b | b & }; b; while :; do :; done`,
		Reboot: rebootEcho + `; echo "pids.events: $(cat /sys/fs/cgroup/boot/pids.events) left: $(wc -l < /sys/fs/cgroup/boot/cgroup.procs)"`})
	v := boot(t, vmlinuz, img, "EP_PIDS_MAX=1000 EP_GRACE_SECONDS=3", 4*time.Minute)
	v.Expect("bombing", "asking for poweroff", "shutdown=poweroff", "pids.events: max ", "left: 0", "reboot: Power down")
	c := v.Wait()
	if m := regexp.MustCompile(`pids.events: max (\d+)`).FindStringSubmatch(c); m == nil || m[1] == "0" {
		t.Errorf("pids.max was never reached: %v", m)
	}
}

// TestQEMUContainment: setsid and double-forked daemons that ignore TERM,
// in a stage that ignores TERM: after the grace period nothing of the
// stage is left, and the node reboots cleanly.
func TestQEMUContainment(t *testing.T) {
	need(t)
	t.Parallel()
	img := archive(t, node{Boot: `trap '' TERM
setsid sh -c 'trap "" TERM; touch /tmp/d1; while :; do sleep 1; done' &
( ( trap '' TERM; touch /tmp/d2; exec sleep 1000 ) & ) &
while [ ! -e /tmp/d1 ] || [ ! -e /tmp/d2 ]; do sleep 0.1; done
echo "booted: $(wc -l < /sys/fs/cgroup/boot/cgroup.procs) in the stage cgroup"; kill -TERM 1
while :; do sleep 1; done`,
		Reboot: rebootEcho + `; echo "left: $(wc -l < /sys/fs/cgroup/boot/cgroup.procs)"; dmesg | grep 'init: boot: killed'`,
		Text:   map[string]string{"/reboot": ""}})
	v := boot(t, vmlinuz, img, "EP_GRACE_SECONDS=2", 3*time.Minute)
	v.Expect("booted:", "status=137 shutdown=reboot", "left: 0", "init: boot: killed by killed after", "cpu ", "peak memory",
		"reboot: Restarting system")
	// The stage, its two daemons, and the subshell that counts.
	if c := v.Wait(); regexp.MustCompile(`booted: [0-3] in`).MatchString(c) {
		t.Errorf("the daemons were not in the stage cgroup")
	}
}
