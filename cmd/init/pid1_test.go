package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rebootEcho is an /etc/reboot that shows what init passed to it.
const rebootEcho = `echo "reboot stage: status=$INIT_BOOT_STATUS shutdown=$INIT_SHUTDOWN"`

func TestPID1HappyPath(t *testing.T) {
	n := newNode(t)
	n.Stage("boot", `echo "boot stdout pid=$$"; echo "boot stderr line" >&2; echo "<3>an error" >&2
printf 'no newline at end' >&2; exit 7`)
	n.Stage("reboot", rebootEcho)
	n.File("/reboot", "", 0o644)
	n.Start(30 * time.Second)
	n.ExpectEnd(syscall.SIGHUP)
	c, k := n.Console(), n.Kmsg()
	contains(t, "console", c, "boot stdout", "reboot stage: status=7 shutdown=reboot")
	if strings.Index(c, "boot stdout") > strings.Index(c, "reboot stage") {
		t.Errorf("stages out of order:\n%s", c)
	}
	contains(t, "kmsg", k, "<6>init: stageinit", "<6>init: boot: started /etc/boot",
		"<6>init: boot: exited 7", "<6>init: final action: cold reboot")
	if !regexp.MustCompile(`(?m)^<6>boot\[\d+\]: boot stderr line$`).MatchString(k) ||
		!regexp.MustCompile(`(?m)^<3>boot\[\d+\]: an error$`).MatchString(k) ||
		!regexp.MustCompile(`(?m)^<6>boot\[\d+\]: no newline at end$`).MatchString(k) {
		t.Errorf("stderr records missing or mis-tagged:\n%s", k)
	}
	if strings.Contains(c, "stderr line") {
		t.Errorf("stderr leaked to the console")
	}
	if _, err := os.Stat(filepath.Join(n.root, "init")); !os.IsNotExist(err) {
		t.Errorf("/init was not removed from the root: %v", err)
	}
}

// TestPID1StageFaults: every way a stage can fail to start is logged and
// the lifecycle goes on to /etc/reboot with 127 or 126.
func TestPID1StageFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(n *node)
		code  string
	}{
		{"missing", func(n *node) {}, "127"},
		{"mode 0644", func(n *node) { n.File("/etc/boot", "#!/bin/sh\necho hi\n", 0o644) }, "126"},
		{"directory", func(n *node) { must(t, os.MkdirAll(filepath.Join(n.root, "etc/boot"), 0o755)) }, "126"},
		{"garbage", func(n *node) { n.File("/etc/boot", "\x7fELF\x02\x01garbage", 0o755) }, "126"},
		{"bad interpreter", func(n *node) { n.File("/etc/boot", "#!/nonexistent\n", 0o755) }, "126"},
		{"empty", func(n *node) { n.File("/etc/boot", "", 0o755) }, "126"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t)
			tc.setup(n)
			n.Stage("reboot", rebootEcho)
			n.File("/poweroff", "", 0o644)
			n.Start(30 * time.Second)
			n.ExpectEnd(syscall.SIGINT)
			contains(t, "console", n.Console(), "reboot stage: status="+tc.code)
			contains(t, "kmsg", n.Kmsg(), "<3>init: boot: execve /etc/boot", "treated as exit "+tc.code)
		})
	}
}

// TestPID1Requests: each request signal stops the boot stage with TERM,
// runs /etc/reboot with the request's name, and ends the namespace the
// right way.
func TestPID1Requests(t *testing.T) {
	for _, tc := range []struct {
		sig      syscall.Signal
		shutdown string
		end      syscall.Signal
	}{
		{syscall.SIGTERM, "reboot", syscall.SIGHUP},
		{syscall.SIGINT, "reboot", syscall.SIGHUP},
		{syscall.SIGUSR2, "poweroff", syscall.SIGINT},
		{syscall.SIGPWR, "poweroff", syscall.SIGINT},
		{syscall.Signal(38), "poweroff", syscall.SIGINT}, // SIGRTMIN+4: the kernel's ACPI tiny power button
		{syscall.SIGUSR1, "halt", syscall.SIGINT},
	} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			n := newNode(t)
			n.Stage("boot", `trap 'echo boot got TERM; exit 0' TERM; echo booted; while :; do sleep 0.05; done`)
			n.Stage("reboot", rebootEcho)
			n.File("/reboot", "", 0o644)
			n.Start(30 * time.Second)
			n.Await("booted", 10*time.Second)
			n.Signal(tc.sig)
			n.ExpectEnd(tc.end)
			contains(t, "console", n.Console(), "boot got TERM", "status=0 shutdown="+tc.shutdown)
		})
	}
}

// TestPID1RequestFromStage: the usual way, kill -TERM 1 from inside.
func TestPID1RequestFromStage(t *testing.T) {
	n := newNode(t)
	n.Stage("boot", `kill -USR2 1; sleep 100`)
	n.Stage("reboot", rebootEcho)
	n.Start(30 * time.Second)
	n.ExpectEnd(syscall.SIGINT)
	contains(t, "console", n.Console(), "status=143 shutdown=poweroff")
}

func TestPID1Grace(t *testing.T) {
	n := newNode(t)
	n.Env = []string{"EP_GRACE_SECONDS=1"}
	n.Stage("boot", `trap '' TERM; echo booted; while :; do sleep 0.05; done`)
	n.Stage("reboot", rebootEcho)
	n.File("/reboot", "", 0o644)
	n.Start(30 * time.Second)
	n.Await("booted", 10*time.Second)
	begin := time.Now()
	n.Signal(syscall.SIGTERM)
	n.ExpectEnd(syscall.SIGHUP)
	contains(t, "console", n.Console(), "status=137 shutdown=reboot")
	contains(t, "kmsg", n.Kmsg(), "grace period of 1s over")
	if el := time.Since(begin); el > stretch(8*time.Second) {
		t.Errorf("ended %v after the request", el)
	}
}

// TestPID1AllSignals: kill -N 1 for every N in 1..64 but the requests (38 is one)
// leaves init alive and the boot stage running; HUP, QUIT and WINCH reach
// the stage's group.
func TestPID1AllSignals(t *testing.T) {
	n := newNode(t)
	n.Stage("boot", `for s in HUP QUIT WINCH; do trap "echo fwd $s >> /tmp/got" $s; done
( trap 'echo member HUP >> /tmp/got' HUP; touch /tmp/member; while :; do sleep 0.05; done ) &
while [ ! -e /tmp/member ]; do sleep 0.01; done # its trap is set
for i in $(seq 1 64); do
  case $i in 2|10|12|15|30|38) continue;; esac
  kill -$i 1 || echo "kill -$i failed"
  sleep 0.02
done
i=0; until [ "$(sort -u /tmp/got | wc -l)" -ge 4 ] || [ $i -ge 200 ]; do sleep 0.05; i=$((i+1)); done
echo "survived all signals"; sort /tmp/got | uniq | tr '\n' ','; echo
kill -USR2 1; while :; do sleep 0.05; done`)
	n.Stage("reboot", rebootEcho)
	n.Start(60 * time.Second)
	n.ExpectEnd(syscall.SIGINT)
	c := n.Console()
	contains(t, "console", c, "survived all signals", "fwd HUP", "fwd QUIT", "fwd WINCH", "member HUP", "shutdown=poweroff")
	if strings.Contains(c, "failed") {
		t.Errorf("a kill failed:\n%s", c)
	}
}

// awaitNoZombies prints zombies=N: the zombies whose parent is init, once
// there are none or after 10 s.
const awaitNoZombies = `i=0; while :; do
  z=0; for f in /proc/[0-9]*/stat; do read -r l < $f 2>/dev/null || continue; set -- ${l##*) }; [ "$1" = Z ] && [ "$2" = 1 ] && z=$((z+1)); done
  [ $z = 0 ] || [ $i = 100 ] && break; i=$((i+1)); sleep 0.1
done
echo "zombies=$z"`

// TestPID1Orphans: 500 orphans, each reaped once it exited.
func TestPID1Orphans(t *testing.T) {
	n := newNode(t)
	n.Stage("boot", `for i in $(seq 500); do ( (sleep 0.2; echo x >> /tmp/exited; exit 3) & ); done
until [ "$(wc -l < /tmp/exited)" = 500 ]; do sleep 0.1; done
`+awaitNoZombies)
	n.File("/poweroff", "", 0o644)
	n.Start(60 * time.Second)
	n.ExpectEnd(syscall.SIGINT)
	contains(t, "console", n.Console(), "zombies=0")
}

// TestPID1StderrFlood: a 10 MB line and 100,000 short lines on stderr do
// not stall reaping or signals, and every line arrives.
func TestPID1StderrFlood(t *testing.T) {
	n := newNode(t)
	n.Stage("boot", `( trap 'echo winch seen; touch /tmp/winch' WINCH; touch /tmp/trapped; while :; do sleep 0.05; done ) &
while [ ! -e /tmp/trapped ]; do sleep 0.01; done # its trap is set before "flooding"
( while :; do (exit 1) & sleep 0.01; done ) &
echo flooding
( head -c 10000000 /dev/zero | tr '\0' 'a'; echo; seq 1 100000 ) >&2
echo "flood done"
while [ ! -e /tmp/winch ]; do sleep 0.05; done
`+awaitNoZombies+`; kill -USR2 1; sleep 100`)
	n.Start(120 * time.Second)
	n.Await("flooding", 10*time.Second)
	n.Signal(syscall.SIGWINCH) // forwarded while the relay is busy
	begin := time.Now()
	n.Await("winch seen", 10*time.Second)
	t.Logf("forwarded signal handled after %v; flood done: %v", time.Since(begin), strings.Contains(n.Console(), "flood done"))
	n.ExpectEnd(syscall.SIGINT)
	contains(t, "console", n.Console(), "flood done", "zombies=0")
	k := n.Kmsg()
	nums := regexp.MustCompile(`(?m)^<6>boot\[\d+\]: (\d+)$`).FindAllStringSubmatch(k, -1)
	as := regexp.MustCompile(`(?m)^<6>boot\[\d+\]: (a+)$`).FindAllStringSubmatch(k, -1)
	total := 0
	for _, m := range as {
		total += len(m[1])
	}
	if len(nums) != 100000 {
		seen := map[string]int{}
		for _, m := range nums {
			if seen[m[1]]++; seen[m[1]] == 2 {
				t.Logf("twice: %q", m[0])
			}
		}
	}
	if total != 10000000 || len(nums) != 100000 {
		t.Errorf("kmsg got %d bytes of the long line and %d numbered lines, want 10000000 and 100000", total, len(nums))
	}
}

// TestPID1MountsAndSoftRestart: mounts already present are left alone, the
// table's others are made, and a round with no control file soft-restarts.
func TestPID1MountsAndSoftRestart(t *testing.T) {
	n := newNode(t)
	n.Stage("boot", `echo run >> /tmp/runs; r=$(wc -l < /tmp/runs)
echo "boot round $r"
if [ $r -ge 2 ]; then
  for m in /dev /proc /sys /sys/fs/cgroup /dev/pts; do
    echo "mount $m $(awk -v m=$m '$5 == m' /proc/self/mountinfo | wc -l)"
  done
  ls -ld /tmp /dev/shm /dev/fd /etc/mtab | awk '{print "ls", $1, $NF}'
  touch /poweroff
fi`)
	n.Start(30 * time.Second)
	n.ExpectEnd(syscall.SIGINT)
	c := n.Console()
	contains(t, "console", c, "boot round 1", "boot round 2", "mount /dev 1", "mount /proc 1",
		"mount /sys 1", "mount /sys/fs/cgroup 1", "mount /dev/pts 1",
		"ls drwxrwxrwt /tmp", "ls drwxrwxrwt /dev/shm", "ls lrwxrwxrwx /proc/self/fd", "ls lrwxrwxrwx /proc/self/mounts")
	contains(t, "kmsg", n.Kmsg(), "final action: soft restart", "printk_devkmsg")
}

// TestMicroVM: the command after -- on the (simulated) kernel command line
// is the boot stage, with env.* and workdir= applied over the metadata file
// and init's own environment; when it ends the machine powers off. Init
// gets the command's words as its arguments, as the kernel passes them.
func TestMicroVM(t *testing.T) {
	n := newNode(t)
	n.File("/bin/app", `#!/bin/sh
echo "app args=$* cwd=$(pwd) PORT=$PORT MSG=$MSG META=$META OWN=$OWN"
exit 3
`, 0o755)
	must(t, os.MkdirAll(filepath.Join(n.root, "srv/app"), 0o755))
	n.File("/etc/metadata.json", `{"env": {"META": "from-metadata", "PORT": "1"}, "working_dir": "/tmp", "bogus": 1}`, 0o644)
	n.Stage("reboot", rebootEcho)
	n.Env = []string{"OWN=kernel-env", "PORT=0"}
	n.Cmdline = `console=ttyS0 env.PORT=8080 env.MSG="hello world" env.1BAD=x workdir=/srv/app -- /bin/app first "second arg"`
	n.Start(30*time.Second, "/bin/app", "first", "second arg")
	n.ExpectEnd(syscall.SIGINT)
	contains(t, "console", n.Console(), "app args=first second arg cwd=/srv/app PORT=8080 MSG=hello world META=from-metadata OWN=kernel-env",
		"reboot stage: status=3 shutdown=reboot")
	contains(t, "kmsg", n.Kmsg(), `<4>init: kernel command line "env.1BAD=x" ignored`, `<4>init: metadata: unknown field "bogus" ignored`,
		`<6>init: app: exited 3`, "<6>init: final action: poweroff", `config: boot ["/bin/app" "first" "second arg"], workdir "/srv/app"`)
}

// TestPID1CgroupContainment: a stage starts a setsid daemon and a
// double-forked one, both ignoring TERM, and ignores TERM itself. After the
// grace period nothing of it is left: its cgroup was killed as a whole.
func TestPID1CgroupContainment(t *testing.T) {
	n := newNode(t)
	n.Env = []string{"EP_GRACE_SECONDS=1"}
	n.Stage("boot", `trap '' TERM
setsid sh -c 'trap "" TERM; touch /tmp/d1; while :; do sleep 1; done' &
( ( trap '' TERM; touch /tmp/d2; exec sleep 1000 ) & ) &
while [ ! -e /tmp/d1 ] || [ ! -e /tmp/d2 ]; do sleep 0.05; done
echo "booted with $(wc -l < /sys/fs/cgroup/boot/cgroup.procs) processes in its cgroup"
while :; do sleep 0.1; done`)
	n.Stage("reboot", rebootEcho+`; echo "left in boot cgroup: $(wc -l < /sys/fs/cgroup/boot/cgroup.procs)"; echo "init's cgroup: $(cat /proc/1/cgroup)"`)
	n.File("/poweroff", "", 0o644)
	n.Start(30 * time.Second)
	n.Await("booted with", 10*time.Second)
	n.Signal(syscall.SIGTERM)
	n.ExpectEnd(syscall.SIGINT)
	c := n.Console()
	if n.Cgroup == "" {
		t.Fatal("no delegated cgroup: the host has no cgroup2")
	}
	contains(t, "console", c, "status=137 shutdown=reboot", "left in boot cgroup: 0", "\n0::/\n")
	if regexp.MustCompile(`booted with [0-3] processes`).MatchString(c) { // the stage, two daemons, the counting subshell
		t.Errorf("the daemons were not in the stage's cgroup:\n%s", c)
	}
	contains(t, "kmsg", n.Kmsg(), "stage cgroups under /sys/fs/cgroup", "grace period of 1s over", "boot: killed by killed after", ", cpu ")
}

// TestPID1BootLoopBackoff: without /etc/boot, rounds come 1, 2, 4 s
// apart instead of every second, and a poweroff request during a long
// pause ends it at once.
func TestPID1BootLoopBackoff(t *testing.T) {
	n := newNode(t)
	n.Start(60 * time.Second)
	n.AwaitKmsg("next round in 8s", 30*time.Second)
	begin := time.Now()
	n.Signal(syscall.SIGUSR2)
	n.ExpectEnd(syscall.SIGINT)
	if el := time.Since(begin); el >= 8*time.Second { // waiting for the pause would take 8 s
		t.Errorf("the poweroff request waited %v for the pause to end", el)
	}
	k := n.Kmsg()
	contains(t, "kmsg", k, "2 rounds in a row: next round in 2s", "3 rounds in a row: next round in 4s", "4 rounds in a row: next round in 8s")
	if c := strings.Count(k, "boot: execve /etc/boot"); c < 4 || c > 6 {
		t.Errorf("%d rounds in about 15 s, want 4 or 5 with the backoff", c)
	}
}
