package e2e

import (
	"regexp"
	"strconv"
	"testing"
	"time"
)

// hostileBoot is a generation 1 that does at once everything a stage can
// do to its init: thousands of short-lived orphans, a flood of stderr
// with binary bytes and a 5 MB line without a newline, a storm of every
// catchable signal but the requests, a setsid daemon that ignores TERM,
// the rootfs filled to ENOSPC, its own stdout closed; then it stages a
// kernel and asks for a reboot. With stageinit.e2e=kmsgoff on the command
// line, /dev/kmsg is off (printk_devkmsg) and chmod 0 while it runs.
const hostileBoot = `if grep -q stageinit.e2e=gen2 /proc/cmdline; then
  echo "generation 2 up"; kill -USR2 1; exec sleep 100
fi
echo "generation 1: hostile"
trap '' HUP QUIT # init forwards these two of its storm to the stage's group
if grep -q stageinit.e2e=kmsgoff /proc/cmdline; then
  echo off > /proc/sys/kernel/printk_devkmsg; chmod 0 /dev/kmsg; echo "kmsg off"
fi
( i=0; while [ $i -lt 3000 ]; do ( (exit 3) & ); i=$((i+1)); done; echo "orphans forked" ) &
orphans=$!
( head -c 2000000 /dev/urandom; head -c 5000000 /dev/zero | tr '\0' a ) >&2 &
flood=$!
( for r in 1 2 3 4 5; do for s in $(seq 1 64); do
    case $s in 2|9|10|12|15|19|30|38) continue;; esac; kill -$s 1
  done; done; echo "signal storm sent" ) &
setsid sh -c 'trap "" TERM; while :; do sleep 1; done' </dev/null >/dev/null 2>&1 &
echo "fill: $(dd if=/dev/zero of=/tmp/fill bs=1M 2>&1 | grep -o 'No space left on device' | head -1)"
wait $orphans $flood
rm -f /tmp/fill
cp /boot/vmlinuz /kernel && cp /boot/initrd /kernel.initrd &&
  echo "$(cat /proc/cmdline | sed 's/stageinit.e2e=kmsgoff//') stageinit.e2e=gen2" > /kernel.cmdline && echo "kernel staged"
echo on > /proc/sys/kernel/printk_devkmsg; chmod 600 /dev/kmsg
exec >&-
kill -TERM 1; exec sleep 100`

// hostileReboot reports, after the boot stage ended: zombies among init's
// children (once none is left, or after 10 s), whether the daemon still
// lives, init's RSS and threads, and the lines init itself reported as
// dropped.
const hostileReboot = rebootEcho + `
i=0; while :; do
  z=0; for f in /proc/[0-9]*/stat; do read -r l < $f 2>/dev/null || continue; set -- ${l##*) }; [ "$1" = Z ] && [ "$2" = 1 ] && z=$((z+1)); done
  [ $z = 0 ] || [ $i = 100 ] && break; i=$((i+1)); sleep 0.1
done
echo "zombies=$z"
echo "init $(grep -E '^(VmRSS|Threads)' /proc/1/status | tr -s ' \t' ' ' | tr '\n' ' ')"
echo "init dropped: $(dmesg | grep -c '<.>init: .*log lines dropped before this one\|init: .*log lines dropped before this one')"`

func TestQEMUHostileGeneration(t *testing.T) {
	for _, variant := range []string{"", "stageinit.e2e=kmsgoff"} {
		t.Run("kmsg on"+map[bool]string{true: " then off"}[variant != ""], func(t *testing.T) {
			need(t)
			t.Parallel()
			gen2 := archive(t, node{Boot: hostileBoot, Reboot: rebootEcho})
			gen1 := archive(t, node{Boot: hostileBoot, Reboot: hostileReboot,
				Files: map[string]string{"/boot/vmlinuz": vmlinuz, "/boot/initrd": gen2}})
			v := boot(t, vmlinuz, gen1, warnings+" EP_GRACE_SECONDS=3 "+variant, 6*time.Minute)
			v.Expect("generation 1: hostile", "fill: No space left on device", "kernel staged",
				"reboot stage: status=143 shutdown=reboot", "zombies=0", "init VmRSS:")
			if variant == "" {
				v.Expect("init dropped: 0")
			}
			v.Expect("teardown: processes left after 3s: SIGKILL to all", "generation 2 up", "shutdown=poweroff", "reboot: Power down")
			c := v.Wait()
			m := regexp.MustCompile(`init VmRSS: (\d+) kB Threads: (\d+)`).FindStringSubmatch(c)
			if m == nil {
				t.Fatal("no RSS and thread count of init on the console")
			}
			rss, _ := strconv.Atoi(m[1])
			threads, _ := strconv.Atoi(m[2])
			t.Logf("init after the hostile generation: RSS %d KiB, %d threads", rss, threads)
			if rss > 20<<10 || threads > 20 {
				t.Errorf("init grew: RSS %d KiB, %d threads", rss, threads)
			}
		})
	}
}
