package main

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"aead.dev/minisign"
)

// downtimeBoot is /etc/boot of every generation of the update downtime
// race: generation 1 stages the update (kernel, initrd, command line and
// their signatures, when the archive has them), asks init for a reboot and
// is the service until it is stopped: on TERM it takes 1 s to stop, as a
// service that flushes its state does. Generation 2 says when it started
// and powers off.
const downtimeBoot = `#!/bin/sh
/bin/busybox --install -s /bin
if grep -q bench.gen2 /proc/cmdline; then
  echo "gen2 first line uptime=$(cut -d' ' -f1 /proc/uptime)"; exec poweroff -f
fi
cp /boot/vmlinuz /kernel; cp /boot/initrd /kernel.initrd; cp /boot/cmdline /kernel.cmdline
if [ -e /boot/vmlinuz.minisig ]; then
  cp /boot/vmlinuz.minisig /kernel.minisig; cp /boot/initrd.minisig /kernel.initrd.minisig
  cp /boot/cmdline.minisig /kernel.cmdline.minisig
fi
mkdir -p /run; echo $$ > /run/service.pid
trap 'echo "service: stopping"; sleep 1; exit 0' TERM
echo "update staged"; kill -TERM 1; sleep 1000 & wait
`

// The busybox init peer: its sysinit mounts what /etc/boot needs, and its
// shutdown action does the update by hand with kexec-tools, as an
// operator's script would: stop the service and wait for it, kexec -s -l,
// kexec -e (which syncs first).
const (
	bbInittab = "::sysinit:/etc/setup\n::once:/etc/boot\n::shutdown:/etc/update\n"
	bbSetup   = `#!/bin/sh
/bin/busybox mount -t devtmpfs none /dev
/bin/busybox mount -t proc none /proc
/bin/busybox mount -t sysfs none /sys
`
	bbUpdate = `#!/bin/sh
echo "<6>bench: service stop" > /dev/kmsg
pid=$(/bin/busybox cat /run/service.pid)
kill -TERM $pid
while kill -0 $pid 2>/dev/null; do /bin/busybox usleep 10000; done
echo "<6>bench: service down" > /dev/kmsg
/bin/kexec -s -l /kernel --initrd=/kernel.initrd --command-line="$(/bin/busybox cat /kernel.cmdline)"
echo "<6>bench: kexec loaded" > /dev/kmsg
echo "<6>bench: kexec now" > /dev/kmsg
exec /bin/kexec -e
`
)

// downtime: an update's downtime, from the moment the running service is
// stopped for a kexec update to generation 2's first /etc/boot line, by
// phase, for stageinit without and with minisign keys and for busybox init
// with kexec-tools, same kernel, interleaved rounds.
func (r *report) downtime(n, rounds int) {
	r.printf("## %d. Update downtime (QEMU, TCG, Debian's kernel)\n\n", n)
	runs, sizes, err := downtimeArchives()
	if err != nil {
		r.printf("%v\n\n", err)
		return
	}
	defer os.RemoveAll(filepath.Dir(runs[0].gen1))
	got := map[string][]map[string]time.Duration{}
	for i := 0; i < rounds; i++ {
		for _, c := range runs {
			p, err := downtimeOnce(runs[0].kernel, c.gen1)
			if err != nil {
				r.printf("%s: %v\n\n", c.name, err)
				return
			}
			got[c.name] = append(got[c.name], p)
		}
	}
	r.printf("From the moment the running service is stopped for a kexec update (stageinit: `reboot requested (SIGTERM)`, the boot stage gets TERM; busybox init: its shutdown script's first line) to generation 2's first line of `/etc/boot`, %d rounds, interleaved, one vCPU, medians. Generation 1's phases come from the kernel timestamps of init's lines (of the script's, for busybox); the jump is the host's clock from the `kexec now` line to generation 2's first line, minus generation 2's uptime there; generation 2's phases are its kernel timestamp of `Run /init` and its uptime at the first line. Every variant loads the same kernel, an initrd of the same kind (its own generation 2, %s) and the same command line file. The service takes 1 s to stop after TERM (it flushes its state); busybox init's shutdown script stops it and waits for it (`kill -TERM`, then `kill -0` every 10 ms), loads with `kexec -s -l` (kexec_file_load, kexec-tools %s built static from Debian's source) and jumps with `kexec -e`, which syncs first. With keys, stageinit copies each file once into a sealed memfd and checks its minisign signature there before the kernel sees it.\n\n",
		rounds, sizes, "2.0.25")
	r.downtimeTable(runs, got)
}

// downtimeRun is one variant of the downtime race.
type downtimeRun struct{ name, kernel, gen1 string }

// downtimePhases are the table's rows: a phase and the marks it spans.
// A phase without from is a duration on its own (the load's, which
// overlaps the others).
var downtimePhases = []struct{ name, from, to string }{
	{"stop the service, run /etc/reboot", "stop", "final"},
	{"wait for the load of /kernel (verified, with keys)", "final", "ready"},
	{"teardown and sync", "ready", "shutdown"},
	{"last log lines, reboot(2)", "shutdown", "now"},
	{"kexec to the new kernel's clock (purgatory, decompression)", "now", "gen2"},
	{"new kernel to `Run /init`", "gen2", "run"},
	{"init to the first line of /etc/boot", "run", "first"},
	{"**downtime**", "stop", "first"},
	{"the load itself (stageinit: begun at the request, beside the stop)", "", "took"},
}

func (r *report) downtimeTable(runs []downtimeRun, got map[string][]map[string]time.Duration) {
	r.printf("| phase |")
	for _, c := range runs {
		r.printf(" %s |", c.name)
	}
	r.printf("\n|---|%s\n", strings.Repeat("---|", len(runs)))
	total := map[string]time.Duration{}
	for _, ph := range downtimePhases {
		r.printf("| %s |", ph.name)
		for _, c := range runs {
			var d []time.Duration
			for _, marks := range got[c.name] {
				from, ok1 := marks[ph.from]
				to, ok2 := marks[ph.to]
				ok1 = ok1 || ph.from == ""
				if ok1 && ok2 {
					d = append(d, to-from)
				}
			}
			if len(d) == 0 {
				r.printf(" n/a |")
				continue
			}
			med := summarize(d).med
			if ph.to == "first" {
				total[c.name] = med
			}
			r.printf(" %v |", med.Round(time.Millisecond))
		}
		r.printf("\n")
	}
	base := total["busybox init + kexec-tools"]
	r.printf("| vs busybox init + kexec-tools |")
	for _, c := range runs {
		r.printf(" %.2fx |", float64(total[c.name])/float64(base))
		r.record("update downtime, median", c.name, float64(total[c.name]))
	}
	r.printf("\n\nFor busybox init the first row is the service's stop, its wait for the load is all of `kexec -s -l`, its `last log lines` row is the script's echo lines, and `kexec -e`'s sync falls in its jump. stageinit begins the load when the request comes with `/kernel` staged, beside the boot stage's stop and `/etc/reboot`, and keeps it when nothing changed by the final action: its second row is what of the load the stop did not hide.\n\n")
}

// downtimeArchives builds generation 1 and 2 of each variant.
func downtimeArchives() ([]downtimeRun, string, error) {
	out, err := exec.Command("bash", "scripts/debian-kernel.sh", ".cache").Output()
	if err != nil {
		return nil, "", fmt.Errorf("no kernel: %v", err)
	}
	kernel := strings.TrimSpace(string(out))
	out, err = exec.Command("bash", "scripts/kexec-tools.sh", ".cache").Output()
	if err != nil {
		return nil, "", fmt.Errorf("no kexec-tools: %v", err)
	}
	kexec := strings.TrimSpace(string(out))
	dir, _ := os.MkdirTemp("", "bench-downtime")
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o755)
		return p
	}
	ov := filepath.Join(dir, "overlay", "bin")
	os.MkdirAll(ov, 0o755)
	os.Symlink("busybox", filepath.Join(ov, "sh"))
	common := []string{"-overlay", filepath.Dir(ov), "-file", "/bin/busybox=/bin/busybox", "-file", "/etc/boot=" + write("boot", []byte(downtimeBoot))}
	bb := []string{"-init", "/bin/busybox", "-file", "/etc/inittab=" + write("inittab", []byte(bbInittab)),
		"-file", "/etc/setup=" + write("setup", []byte(bbSetup)), "-file", "/etc/update=" + write("update", []byte(bbUpdate)),
		"-file", "/bin/kexec=" + kexec}
	mk := func(name string, args ...string) (string, error) {
		p := filepath.Join(dir, name+".cpio")
		if o, err := exec.Command("build/mkinitramfs", append(append([]string{"-o", p}, common...), args...)...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("mkinitramfs %s: %v %s", name, err, o)
		}
		return p, nil
	}
	cmdline := write("cmdline", []byte("console=ttyS0 panic=-1 loglevel=7 bench.gen2\n"))
	update := func(gen2 string) []string {
		return []string{"-file", "/boot/vmlinuz=" + kernel, "-file", "/boot/initrd=" + gen2, "-file", "/boot/cmdline=" + cmdline}
	}
	init2, err := mk("stageinit-gen2", "-init", "build/init")
	if err != nil {
		return nil, "", err
	}
	bb2, err := mk("busybox-gen2", bb...)
	if err != nil {
		return nil, "", err
	}
	keys, err := signed(dir, kernel, init2, cmdline)
	if err != nil {
		return nil, "", err
	}
	runs := []downtimeRun{{"stageinit", kernel, ""}, {"stageinit, minisign keys", kernel, ""},
		{"busybox init + kexec-tools", kernel, ""}}
	for i, extra := range [][]string{append([]string{"-init", "build/init"}, update(init2)...),
		append(append([]string{"-init", "build/init"}, update(init2)...), keys...), append(bb, update(bb2)...)} {
		if runs[i].gen1, err = mk(fmt.Sprintf("gen1-%d", i), extra...); err != nil {
			return nil, "", err
		}
	}
	return runs, fmt.Sprintf("%s and %s bytes", size(init2), size(bb2)), nil
}

// signed makes a minisign key and signs the update's files with it: the
// public key and the signatures, as mkinitramfs -file arguments.
func signed(dir, kernel, initrd, cmdline string) ([]string, error) {
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	text, _ := pub.MarshalText()
	p := filepath.Join(dir, "bench.pub")
	os.WriteFile(p, text, 0o644)
	args := []string{"-file", "/etc/stageinit/bench.pub=" + p}
	for name, src := range map[string]string{"vmlinuz": kernel, "initrd": initrd, "cmdline": cmdline} {
		b, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		sig := filepath.Join(dir, name+".minisig")
		os.WriteFile(sig, minisign.Sign(priv, b), 0o644)
		args = append(args, "-file", "/boot/"+name+".minisig="+sig)
	}
	return args, nil
}

func size(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return "?"
	}
	return strconv.FormatInt(st.Size(), 10)
}

// downtimeOnce boots generation 1, which updates itself to generation 2,
// and returns the marks: gen1's kernel time of each of its lines, and,
// after the jump, the host's time since `kexec now` (gen2) plus gen2's own
// times (run, first), all on gen1's time line.
func downtimeOnce(kernel, gen1 string) (map[string]time.Duration, error) {
	cmd := exec.Command("qemu-system-x86_64", "-m", "1024", "-accel", "tcg", "-smp", "1", "-display", "none",
		"-no-reboot", "-serial", "stdio", "-monitor", "none", "-kernel", kernel, "-initrd", gen1,
		"-append", "console=ttyS0 panic=-1 loglevel=7")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	timer := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	line := regexp.MustCompile(`^\[\s*([0-9.]+)\] (init: reboot requested|bench: service stop|init: final action: kexec|bench: service down|` +
		`init: kexec: loaded|bench: kexec loaded|init: shutdown: kexec|init: kexec now|bench: kexec now|Run /init as init process)`)
	took := regexp.MustCompile(`init: kexec: loaded \S+ in ([0-9.]+m?s)`)
	first := regexp.MustCompile(`gen2 first line uptime=([0-9.]+)`)
	names := map[string]string{"init: reboot requested": "stop", "bench: service stop": "stop",
		"init: final action: kexec": "final", "bench: service down": "final", "init: kexec: loaded": "loaded", "bench: kexec loaded": "loaded",
		"init: shutdown: kexec": "shutdown", "init: kexec now": "now", "bench: kexec now": "now"}
	marks := map[string]time.Duration{}
	var now time.Time
	var run time.Duration
	sc := bufio.NewScanner(out)
	var console strings.Builder
	for sc.Scan() {
		console.WriteString(sc.Text() + "\n")
		if m := took.FindStringSubmatch(sc.Text()); m != nil {
			marks["took"], _ = time.ParseDuration(m[1])
		}
		if m := line.FindStringSubmatch(sc.Text()); m != nil {
			switch {
			case m[2] == "Run /init as init process":
				run = seconds(m[1]) // generation 2's is the last one
			case names[m[2]] == "now":
				marks["now"], now = seconds(m[1]), time.Now()
			default:
				marks[names[m[2]]] = seconds(m[1])
			}
		}
		if m := first.FindStringSubmatch(sc.Text()); m != nil && !now.IsZero() {
			up := seconds(m[1])
			marks["gen2"] = marks["now"] + time.Since(now) - up
			marks["run"], marks["first"] = marks["gen2"]+run, marks["gen2"]+up
		}
	}
	cmd.Wait()
	if _, ok := marks["shutdown"]; !ok { // busybox init: its sync is in kexec -e
		marks["shutdown"], marks["took"] = marks["loaded"], marks["loaded"]-marks["final"]
	}
	marks["ready"] = max(marks["final"], marks["loaded"]) // the final action goes on once both are there
	if _, ok := marks["first"]; !ok {
		tail := console.String()[max(0, console.Len()-3000):]
		return nil, fmt.Errorf("%s: no update to generation 2 (marks %v); the console's end:\n%s", filepath.Base(gen1), marks, tail)
	}
	return marks, nil
}
