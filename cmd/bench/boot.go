package main

import (
	"bufio"
	"cmp"
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
/bin/busybox dmesg | /bin/busybox grep -E 'Run /init as init process|boot: first line|: boot path'
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
	marked, err := buildFloor(floorPID1Marked)
	if err != nil {
		r.printf("%v\n\n", err)
		return
	}
	defer os.RemoveAll(filepath.Dir(marked))
	job, err := buildFloor(floorJob)
	if err != nil {
		r.printf("%v\n\n", err)
		return
	}
	defer os.RemoveAll(filepath.Dir(job))
	jobMarked, err := buildFloor(strings.Replace(floorJob, "const marked = false", "const marked = true", 1))
	if err != nil {
		r.printf("%v\n\n", err)
		return
	}
	defer os.RemoveAll(filepath.Dir(jobMarked))
	uroot, err := buildURootInit()
	if err != nil {
		r.printf("%v\n\n", err)
		return
	}
	defer os.RemoveAll(filepath.Dir(uroot))
	contestants := []string{"stageinit", "Go job floor", "Go floor", "u-root init", "busybox init",
		"busybox init, stageinit's job"}
	marks := []string{"Go floor, marked", "Go job floor, marked"}
	archives := map[string]string{}
	for name, extra := range map[string][]string{
		"stageinit":            {"-init", bin},
		"Go floor":             {"-init", floor},
		"Go floor, marked":     {"-init", marked},
		"Go job floor":         {"-init", job},
		"Go job floor, marked": {"-init", jobMarked},
		"u-root init":          {"-init", uroot, "-file", "/bin/uinit=" + boot},
		"busybox init":         {"-init", "/bin/busybox", "-file", "/etc/inittab=" + inittab},
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
	paths := map[string][]bootOnce{}
	var rss, rssRelay []int
	for i := 0; i < rounds; i++ {
		for _, name := range append(contestants, marks...) {
			b, err := raceOnce(k, archives[name], "", false)
			if err != nil {
				r.printf("%s: %v\n\n", name, err)
				return
			}
			race[name], paths[name] = append(race[name], b.race), append(paths[name], b)
			if name == "stageinit" && len(b.kib) > 0 { // busybox init mounts no /proc
				rss = append(rss, b.kib[0])
			}
		}
	}
	for i := 0; i < 3; i++ {
		if b, err := raceOnce(k, archives["stageinit"], "RELAY=1", false); err == nil && len(b.kib) == 2 {
			rssRelay = append(rssRelay, b.kib[1])
		}
	}
	counted := map[string][]bootOnce{}
	for i := 0; i < 3; i++ {
		for _, name := range append(contestants, "Go job floor, marked") {
			if b, err := raceOnce(k, archives[name], "", true); err == nil {
				counted[name] = append(counted[name], b)
			}
		}
	}
	r.printf("From the kernel's `Run /init as init process` to the first line `/etc/boot` writes to `/dev/kmsg` (kernel timestamps of both, read back with dmesg: the console is quiet, so no init pays for printing its log on the serial port), %d rounds, interleaved, one vCPU. busybox init (busybox-static) runs an inittab that mounts devtmpfs and runs `/etc/boot`; the Go floor is a static Go program that does the same and nothing else. The **Go job floor** is a static Go program that does exactly the work stageinit must do before its boot stage runs and nothing else (its source is `floorJob` in `cmd/bench/floor.go`): the seven mounts, printk_devkmsg, Ctrl-Alt-Del off, the boot cgroup with +pids +memory and pids.max, /dev/null, the console and a stderr pipe to a goroutine that copies it to /dev/kmsg, and the clone of `/etc/boot` into the cgroup. stageinit does its whole setup; the last row is busybox init doing the mounts and stage cgroup from one sysinit script, to tell the kernel's share of that job.\n\n", rounds)
	r.printf("u-root init (`cmds/core/init` at the version go.mod pins, built in a module of its own) runs `/etc/boot` as its `/bin/uinit`, and prints its banner on the console.\n\n")
	r.printf("| init | median | min | max | vs the Go job floor | vs the Go floor | vs busybox init |\n|---|---|---|---|---|---|---|\n")
	bb, fl, jf := summarize(race["busybox init"]).med, summarize(race["Go floor"]).med, summarize(race["Go job floor"]).med
	for _, name := range contestants {
		s := summarize(race[name])
		r.record("boot: Run /init to the first /etc/boot line", name, float64(s.med))
		r.printf("| %s | %v | %v | %v | %.2fx | %.2fx | %.2fx |\n", name, s.med.Round(time.Millisecond),
			s.min.Round(time.Millisecond), s.max.Round(time.Millisecond), float64(s.med)/float64(jf),
			float64(s.med)/float64(fl), float64(s.med)/float64(bb))
	}
	r.printf("\nstageinit above the Go job floor: %v; the job itself (Go job floor above the Go floor): %v.\n",
		(summarize(race["stageinit"]).med - jf).Round(time.Millisecond), (jf - fl).Round(time.Millisecond))
	r.instructions(contestants, counted)
	r.printf("\nstageinit's RSS as pid 1 (VmRSS of /proc/1/status, read by `/etc/boot`): %s KiB after boot (median of %d), %s KiB after relaying 10,000 stderr lines (median of %d).\n\n",
		medianInt(rss), len(rss), medianInt(rssRelay), len(rssRelay))
	r.timeline(paths["stageinit"], paths["Go job floor, marked"], paths["Go floor, marked"])
}

// instructions prints the race again with QEMU's -icount: the guest's
// clock then counts the instructions it runs, and TCG's translation of
// code that runs for the first time, which the race's times mostly are,
// costs the guest nothing. Then where stageinit's and the job floor's
// instructions go: before main, from main to the spawn, after it.
func (r *report) instructions(contestants []string, counted map[string][]bootOnce) {
	r.printf("\nThe same race with `-icount shift=1,sleep=off` (3 rounds, medians): the guest's clock advances 2 ns per guest instruction, so this counts the work each init makes the guest do, and leaves out what the times above mostly are, QEMU translating code the first time it runs (a larger share for a program that runs more distinct code).\n\n")
	r.printf("| init | guest instructions, as ms at 2 ns each | vs the Go job floor |\n|---|---|---|\n")
	med := func(name string, f func(b bootOnce) float64) float64 { return medianOf(counted[name], f) }
	race := func(b bootOnce) float64 { return float64(b.race) / 1e6 }
	jf := med("Go job floor", race)
	for _, name := range contestants {
		if m := med(name, race); m > 0 && jf > 0 {
			r.printf("| %s | %.1f | %.2fx |\n", name, m, m/jf)
		}
	}
	r.printf("\n| guest instructions, as ms | exec to main | main to the boot stage's start | to its first line |\n|---|---|---|---|\n")
	for _, name := range []string{"stageinit", "Go job floor, marked"} {
		main := med(name, func(b bootOnce) float64 { return b.main })
		spawn := med(name, func(b bootOnce) float64 { return b.spawned() })
		r.printf("| %s | %.1f | %.1f | %.1f |\n", name, main, spawn-main, med(name, race)-spawn)
	}
}

// bootOnce is what one boot of the race showed: the race interval, the
// RSS values /etc/boot printed, and init's boot path line, if any.
type bootOnce struct {
	race  time.Duration
	kib   []int
	main  float64   // ms from Run /init to init's main (from the boot path line)
	marks []string  // the line's steps, in order
	at    []float64 // ms from Run /init to each step's end
}

// raceOnce boots an archive once; with icount the guest's clock counts its
// instructions (2 ns each) instead of the host's time.
func raceOnce(kernel, archive, env string, icount bool) (bootOnce, error) {
	cmd := exec.Command("qemu-system-x86_64", "-m", "1024", "-accel", "tcg", "-smp", "1", "-display", "none",
		"-no-reboot", "-serial", "stdio", "-monitor", "none", "-kernel", kernel, "-initrd", archive,
		"-append", "console=ttyS0 panic=-1 quiet "+env)
	if icount {
		cmd.Args = append(cmd.Args, "-icount", "shift=1,sleep=off")
	}
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return bootOnce{}, err
	}
	timer := time.AfterFunc(3*time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	ts := regexp.MustCompile(`^\[\s*([0-9.]+)\] (Run /init as init process|boot: first line|[a-z]+: boot path, ms since main: (.*))$`)
	kb := regexp.MustCompile(`rss after [^:]*: ([0-9]+) KiB`)
	var run, first, line float64
	var path string
	var b bootOnce
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if m := ts.FindStringSubmatch(sc.Text()); m != nil {
			f, _ := strconv.ParseFloat(m[1], 64)
			switch {
			case strings.HasPrefix(m[2], "Run"):
				run = f
			case strings.HasPrefix(m[2], "boot: first"):
				first = cmp.Or(first, f)
			default:
				line, path = f, m[3]
			}
		}
		if m := kb.FindStringSubmatch(sc.Text()); m != nil {
			n, _ := strconv.Atoi(m[1])
			b.kib = append(b.kib, n)
		}
	}
	cmd.Wait()
	if run == 0 || first == 0 {
		return bootOnce{}, fmt.Errorf("%s: no Run /init or first line on the console", filepath.Base(archive))
	}
	b.race = time.Duration((first - run) * float64(time.Second))
	b.marks, b.at = parsePath(path)
	if n := len(b.at); n > 0 { // the line is logged right after its last step
		b.main = (line-run)*1000 - b.at[n-1]
		for i := range b.at {
			b.at[i] += b.main
		}
		b.marks, b.at = append(b.marks, "first line of /etc/boot"), append(b.at, (first-run)*1000)
	}
	return b, nil
}

// spawned is ms from Run /init to the end of the step "boot stage started".
func (b bootOnce) spawned() float64 {
	if i := slices.Index(b.marks, "boot stage started"); i >= 0 {
		return b.at[i]
	}
	return 0
}

// medianOf is the median of f over boots; 0 when there are none.
func medianOf(boots []bootOnce, f func(b bootOnce) float64) float64 {
	var v []float64
	for _, b := range boots {
		v = append(v, f(b))
	}
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// parsePath reads "signals 0.3, mount / 1.2, ...": steps and ms since main.
func parsePath(s string) (marks []string, at []float64) {
	for _, step := range strings.Split(s, ", ") {
		i := strings.LastIndexByte(step, ' ')
		if i < 0 {
			continue
		}
		if ms, err := strconv.ParseFloat(step[i+1:], 64); err == nil {
			marks, at = append(marks, step[:i]), append(at, ms)
		}
	}
	return marks, at
}

// timeline prints the boot path, step by step, for stageinit and for the
// two floors built with their marks: medians over the rounds, in ms from
// the kernel's Run /init.
func (r *report) timeline(init, job, floor []bootOnce) {
	r.printf("### Boot path, step by step\n\nFrom the same rounds: stageinit logs one line once its boot stage has started, `boot path, ms since main: signals 0.3, mount / 1.2, ...` (monotonic clock, each step's end; the last mark is taken as the line is queued), and the kernel's timestamp of that line places init's main after `Run /init`. That is an upper bound: init's log goroutine writes the line, which can come a few ms later when `/etc/boot` has the CPU. The two floors here are built with marks of their own and one such kmsg line after their spawn (run in the same rounds, not in the race). Medians: ms since `Run /init` at the end of each step, and the step's own share.\n\n")
	for _, c := range []struct {
		name  string
		boots []bootOnce
	}{{"stageinit", init}, {"Go job floor", job}, {"Go floor", floor}} {
		if len(c.boots) == 0 || len(c.boots[0].marks) == 0 {
			r.printf("%s: no boot path line\n\n", c.name)
			continue
		}
		r.printf("| %s | ms since Run /init | this step |\n|---|---|---|\n", c.name)
		med := func(f func(b bootOnce) float64) float64 { return medianOf(c.boots, f) }
		prev := med(func(b bootOnce) float64 { return b.main })
		r.printf("| exec to main (Go runtime, package initialisation) | %.1f | %.1f |\n", prev, prev)
		for i, m := range c.boots[0].marks {
			at := med(func(b bootOnce) float64 {
				if i < len(b.at) {
					return b.at[i]
				}
				return 0
			})
			r.printf("| %s | %.1f | %.1f |\n", m, at, at-prev)
			prev = at
		}
		r.printf("\n")
	}
}

func medianInt(l []int) string {
	if len(l) == 0 {
		return "?"
	}
	s := slices.Clone(l)
	slices.Sort(s)
	return strconv.Itoa(s[len(s)/2])
}
