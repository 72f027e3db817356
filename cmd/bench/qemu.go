package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const benchBoot = `#!/bin/sh
/bin/busybox --install -s /bin
if grep -q bench.gen2 /proc/cmdline; then
  echo "gen2 first line uptime=$(cut -d' ' -f1 /proc/uptime)"; kill -USR2 1; exec sleep 100
fi
echo "gen1 first line uptime=$(cut -d' ' -f1 /proc/uptime)"
cp /boot/vmlinuz /kernel; cp /boot/initrd /kernel.initrd
echo "$(cat /proc/cmdline) bench.gen2" > /kernel.cmdline
echo "requesting reboot"; kill -TERM 1; exec sleep 100
`

// vmTarget is an architecture the QEMU sections boot.
type vmTarget struct {
	arch, init, console, load string
	qemu                      []string
}

var (
	vmAmd64 = vmTarget{"amd64", "build/init", "ttyS0", "kexec_file_load", []string{"qemu-system-x86_64"}}
	vmArm64 = vmTarget{"arm64", "build/init-arm64", "ttyAMA0",
		"kexec_load (Debian's arm64 kernel has no kexec_file_load)", []string{"qemu-system-aarch64", "-M", "virt", "-cpu", "max"}}
)

// qemu: kernel start to the first line of /etc/boot, and a reboot request
// to the first line of generation 2's /etc/boot through kexec.
func (r *report) qemu(n int, t vmTarget) {
	r.printf("## %d. In QEMU, %s (TCG, Debian's kernel)\n\n", n, t.arch)
	kernel, err := exec.Command("bash", "scripts/debian-kernel.sh", ".cache", t.arch).Output()
	if err != nil {
		r.printf("no kernel: %v\n\n", err)
		return
	}
	k := strings.TrimSpace(string(kernel))
	busybox := "/bin/busybox"
	if t.arch != "amd64" {
		busybox = filepath.Join(filepath.Dir(k), "../bin/busybox")
	}
	dir, _ := os.MkdirTemp("", "bench-qemu")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "boot"), []byte(benchBoot), 0o755)
	mk := func(out string, extra ...string) error {
		args := append([]string{"-o", out, "-arch", t.arch, "-init", t.init, "-overlay", "examples/node", "-file", "/bin/busybox=" + busybox,
			"-file", "/etc/boot=" + filepath.Join(dir, "boot")}, extra...)
		o, err := exec.Command("build/mkinitramfs", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("mkinitramfs: %v %s", err, o)
		}
		return nil
	}
	gen2, gen1 := filepath.Join(dir, "gen2.cpio"), filepath.Join(dir, "gen1.cpio")
	if err := mk(gen2); err != nil {
		r.printf("%v\n\n", err)
		return
	}
	if err := mk(gen1, "-file", "/boot/vmlinuz="+k, "-file", "/boot/initrd="+gen2); err != nil {
		r.printf("%v\n\n", err)
		return
	}
	var boot1, boot2, stop, load, down, jump []time.Duration
	// init's own lines, with gen 1's kernel timestamps: loglevel=7 puts its
	// info lines on the console (the indented copies /etc/reboot prints
	// from dmesg do not match).
	mark := regexp.MustCompile(`^\[\s*([0-9.]+)\] init: (reboot requested|final action: kexec|kexec: loaded|teardown done in ([0-9.]+m?s)|kexec now)`)
	up := regexp.MustCompile(`(gen[12]) first line uptime=([0-9.]+)`)
	took := regexp.MustCompile(`init: kexec: loaded \S+ in ([0-9.]+m?s)`)
	for round := 0; round < 3; round++ {
		cmd := exec.Command(t.qemu[0], append(t.qemu[1:], "-m", "1024", "-accel", "tcg", "-smp", "1", "-display", "none",
			"-no-reboot", "-serial", "stdio", "-monitor", "none", "-kernel", k, "-initrd", gen1,
			"-append", "console="+t.console+" panic=-1 loglevel=7")...)
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			r.printf("qemu: %v\n\n", err)
			return
		}
		t := map[string]time.Duration{}
		var hostNow time.Time
		timer := time.AfterFunc(5*time.Minute, func() { cmd.Process.Kill() })
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if m := took.FindStringSubmatch(line); m != nil {
				d, _ := time.ParseDuration(m[1])
				load = append(load, d)
			}
			if m := mark.FindStringSubmatch(line); m != nil {
				f := strings.Fields(m[2])
				key := f[0] + " " + f[1]
				t[key] = seconds(m[1])
				if m[3] != "" {
					d, _ := time.ParseDuration(m[3])
					down = append(down, d)
				}
				if key == "kexec now" {
					hostNow = time.Now()
				}
			}
			if m := up.FindStringSubmatch(line); m != nil {
				if m[1] == "gen1" {
					boot1 = append(boot1, seconds(m[2]))
				} else if !hostNow.IsZero() {
					boot2 = append(boot2, seconds(m[2]))
					jump = append(jump, time.Since(hostNow)-seconds(m[2]))
				}
			}
		}
		timer.Stop()
		cmd.Wait()
		stop = append(stop, t["final action:"]-t["reboot requested"])
	}
	r.printf("3 boots, medians. Times inside generation 1 come from init's own kernel-log lines (kernel timestamps); generation 2's kernel time is its `/proc/uptime` at the first line of `/etc/boot`; the jump is the host's clock from init's `kexec now` to that line, minus generation 2's uptime.\n\n")
	r.printf("| interval | median | min | max |\n|---|---|---|---|\n")
	row := func(name string, d []time.Duration) {
		s := summarize(d)
		r.printf("| %s | %v | %v | %v |\n", name, s.med.Round(time.Millisecond), s.min.Round(time.Millisecond), s.max.Round(time.Millisecond))
	}
	row("kernel start to first line of /etc/boot (generation 1)", boot1)
	row("stageinit: request to final action (stop the boot stage, run /etc/reboot)", stop)
	row("kernel: "+t.load+" of /kernel and /kernel.initrd (begun at the request, beside the stop)", load)
	row("stageinit: teardown (TERM, wait, KILL, reap, sync)", down)
	row("kernel: reboot(RB_KEXEC) to generation 2's clock start (purgatory or trampoline, decompression)", jump)
	row("kernel: generation 2's start to first line of /etc/boot", boot2)
	r.printf("\nEverything runs under TCG emulation: absolute times are several times those on hardware or KVM; the split is what matters.\n\n")
}

// seconds reads a kernel timestamp or an uptime, "2.345678", as a duration.
func seconds(s string) time.Duration {
	f, _ := strconv.ParseFloat(s, 64)
	return time.Duration(f * float64(time.Second))
}
