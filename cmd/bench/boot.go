package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// raceBoot is /etc/boot for both inits of the boot race: its first line
// goes to the kernel log, then it says how big init is and powers off.
const raceBoot = `#!/bin/sh
echo "<6>boot: first line" > /dev/kmsg
/bin/busybox dmesg | /bin/busybox grep -E 'Run /init as init process|boot: first line'
rss() { /bin/busybox sed -n 's/^VmRSS:[^0-9]*\([0-9]*\).*/\1/p' /proc/1/status 2>/dev/null; }
echo "rss after boot: $(rss) KiB"
if [ -n "$RELAY" ]; then
  i=0; while [ $i -lt 10000 ]; do echo "relayed line $i" >&2; i=$((i+1)); done; /bin/busybox sleep 1
  echo "rss after 10000 relayed lines: $(rss) KiB"
fi
exec /bin/busybox poweroff -f
`

// jobScript is what stageinit mounts and prepares before its boot stage,
// done by busybox: the kernel's share of stageinit's job.
const jobScript = `#!/bin/sh
/bin/busybox mount -t devtmpfs none /dev
/bin/busybox mount -t proc none /proc
/bin/busybox mount -t sysfs none /sys
/bin/busybox mount -t cgroup2 none /sys/fs/cgroup
/bin/busybox mkdir -p /dev/pts
/bin/busybox mount -t devpts -o gid=5,mode=0620,ptmxmode=000 devpts /dev/pts
/bin/busybox mount -t pstore pstore /sys/fs/pstore
echo +pids > /sys/fs/cgroup/cgroup.subtree_control; echo +memory > /sys/fs/cgroup/cgroup.subtree_control
/bin/busybox mkdir /sys/fs/cgroup/boot; echo 5000 > /sys/fs/cgroup/boot/pids.max
`

// bootRace: the kernel's "Run /init as init process" to the first line
// that /etc/boot writes to /dev/kmsg, both kernel timestamps, for
// stageinit and for busybox init doing the same job (an inittab that
// mounts devtmpfs and runs /etc/boot), same kernel, same QEMU,
// interleaved rounds. Also init's RSS as pid 1 after boot and after
// relaying 10,000 stderr lines.
func (r *report) bootRace(bin string, rounds int) {
	r.printf("## 9. Boot race (QEMU, TCG, Debian's kernel)\n\n")
	kernel, err := exec.Command("bash", "scripts/debian-kernel.sh", ".cache").Output()
	if err != nil {
		r.printf("no kernel: %v\n\n", err)
		return
	}
	k := strings.TrimSpace(string(kernel))
	dir, _ := os.MkdirTemp("", "bench-race")
	defer os.RemoveAll(dir)
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o755)
		return p
	}
	boot := write("boot", raceBoot)
	inittab := write("inittab", "::sysinit:/bin/busybox mount -t devtmpfs devtmpfs /dev\n::sysinit:/etc/boot\n")
	write("job", jobScript)
	jobtab := write("jobtab", "::sysinit:/etc/job\n::sysinit:/etc/boot\n")
	ov := filepath.Join(dir, "overlay", "bin")
	os.MkdirAll(ov, 0o755)
	os.Symlink("busybox", filepath.Join(ov, "sh"))
	floor, err := buildFloor(floorPID1)
	if err != nil {
		r.printf("%v\n\n", err)
		return
	}
	defer os.RemoveAll(filepath.Dir(floor))
	contestants := []string{"stageinit", "Go floor", "busybox init", "busybox init, stageinit's job"}
	archives := map[string]string{}
	for name, extra := range map[string][]string{
		"stageinit":    {"-init", bin},
		"Go floor":     {"-init", floor},
		"busybox init": {"-init", "/bin/busybox", "-file", "/etc/inittab=" + inittab},
		"busybox init, stageinit's job": {"-init", "/bin/busybox", "-file", "/etc/inittab=" + jobtab,
			"-file", "/etc/job=" + filepath.Join(dir, "job")},
	} {
		out := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".cpio")
		args := append([]string{"-o", out, "-overlay", filepath.Dir(ov), "-file", "/bin/busybox=/bin/busybox", "-file", "/etc/boot=" + boot}, extra...)
		if o, err := exec.Command("build/mkinitramfs", args...).CombinedOutput(); err != nil {
			r.printf("mkinitramfs: %v %s\n\n", err, o)
			return
		}
		archives[name] = out
	}
	race := map[string][]time.Duration{}
	var rss, rssRelay []int
	for i := 0; i < rounds; i++ {
		for _, name := range contestants {
			d, kib, err := raceOnce(k, archives[name], "")
			if err != nil {
				r.printf("%s: %v\n\n", name, err)
				return
			}
			race[name] = append(race[name], d)
			if name == "stageinit" && len(kib) > 0 { // busybox init mounts no /proc
				rss = append(rss, kib[0])
			}
		}
	}
	for i := 0; i < 3; i++ {
		if _, kib, err := raceOnce(k, archives["stageinit"], "RELAY=1"); err == nil && len(kib) == 2 {
			rssRelay = append(rssRelay, kib[1])
		}
	}
	r.printf("From the kernel's `Run /init as init process` to the first line `/etc/boot` writes to `/dev/kmsg` (kernel timestamps of both, read back with dmesg: the console is quiet, so no init pays for printing its log on the serial port), %d rounds, interleaved, one vCPU. busybox init (busybox-static) runs an inittab that mounts devtmpfs and runs `/etc/boot`; the Go floor is a static Go program that does the same and nothing else; stageinit does its whole setup (six mounts, console, kmsg relay, configuration, stage cgroup with pids.max); the last row is busybox init doing the same mounts and stage cgroup from one sysinit script, to tell the kernel's share of that job from stageinit's own.\n\n", rounds)
	r.printf("| init | median | min | max | ratio to busybox init |\n|---|---|---|---|---|\n")
	bb := summarize(race["busybox init"]).med
	for _, name := range contestants {
		s := summarize(race[name])
		r.record("boot: Run /init to the first /etc/boot line", name, float64(s.med))
		r.printf("| %s | %v | %v | %v | %.2f |\n", name, s.med.Round(time.Millisecond), s.min.Round(time.Millisecond),
			s.max.Round(time.Millisecond), float64(s.med)/float64(bb))
	}
	r.printf("\nstageinit above the Go floor: %v.\n", (summarize(race["stageinit"]).med - summarize(race["Go floor"]).med).Round(time.Millisecond))
	r.printf("\nstageinit's RSS as pid 1 (VmRSS of /proc/1/status, read by `/etc/boot`): %s KiB after boot (median of %d), %s KiB after relaying 10,000 stderr lines (median of %d).\n\n",
		medianInt(rss), len(rss), medianInt(rssRelay), len(rssRelay))
}

// raceOnce boots an archive once and returns the race interval and the
// RSS values /etc/boot printed.
func raceOnce(kernel, archive, env string) (time.Duration, []int, error) {
	cmd := exec.Command("qemu-system-x86_64", "-m", "1024", "-accel", "tcg", "-smp", "1", "-display", "none",
		"-no-reboot", "-serial", "stdio", "-monitor", "none", "-kernel", kernel, "-initrd", archive,
		"-append", "console=ttyS0 panic=-1 quiet "+env)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	timer := time.AfterFunc(3*time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	ts := regexp.MustCompile(`^\[\s*([0-9.]+)\] (Run /init as init process|boot: first line)$`)
	kb := regexp.MustCompile(`rss after [^:]*: ([0-9]+) KiB`)
	var run, first float64
	var kib []int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if m := ts.FindStringSubmatch(sc.Text()); m != nil {
			f, _ := strconv.ParseFloat(m[1], 64)
			if strings.HasPrefix(m[2], "Run") {
				run = f
			} else if first == 0 {
				first = f
			}
		}
		if m := kb.FindStringSubmatch(sc.Text()); m != nil {
			n, _ := strconv.Atoi(m[1])
			kib = append(kib, n)
		}
	}
	cmd.Wait()
	if run == 0 || first == 0 {
		return 0, nil, fmt.Errorf("%s: no Run /init or first line on the console", filepath.Base(archive))
	}
	return time.Duration((first - run) * float64(time.Second)), kib, nil
}

func medianInt(l []int) string {
	if len(l) == 0 {
		return "?"
	}
	s := slices.Clone(l)
	slices.Sort(s)
	return strconv.Itoa(s[len(s)/2])
}
