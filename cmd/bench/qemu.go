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

// qemu: kernel start to the first line of /etc/boot, and a reboot request
// to the first line of generation 2's /etc/boot through kexec.
func (r *report) qemu(bin string) {
	r.printf("## 8. In QEMU (TCG, Debian's kernel)\n\n")
	kernel, err := exec.Command("bash", "scripts/debian-kernel.sh", ".cache").Output()
	if err != nil {
		r.printf("no kernel: %v\n\n", err)
		return
	}
	k := strings.TrimSpace(string(kernel))
	dir, _ := os.MkdirTemp("", "bench-qemu")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "boot"), []byte(benchBoot), 0o755)
	mk := func(out string, extra ...string) error {
		args := append([]string{"-o", out, "-init", bin, "-overlay", "examples/node", "-file", "/bin/busybox=/bin/busybox",
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
	var boot1, boot2, total, inGen1 []time.Duration
	for round := 0; round < 3; round++ {
		cmd := exec.Command("qemu-system-x86_64", "-m", "1024", "-accel", "tcg", "-smp", "1", "-display", "none",
			"-no-reboot", "-serial", "stdio", "-monitor", "none", "-kernel", k, "-initrd", gen1,
			"-append", "console=ttyS0 panic=-1 quiet")
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			r.printf("qemu: %v\n\n", err)
			return
		}
		up := regexp.MustCompile(`(gen[12]) first line uptime=([0-9.]+)`)
		var tReq time.Time
		timer := time.AfterFunc(5*time.Minute, func() { cmd.Process.Kill() })
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			now := time.Now()
			line := sc.Text()
			if strings.Contains(line, "requesting reboot") {
				tReq = now
			}
			if m := up.FindStringSubmatch(line); m != nil {
				s, _ := strconv.ParseFloat(m[2], 64)
				d := time.Duration(s * float64(time.Second))
				if m[1] == "gen1" {
					boot1 = append(boot1, d)
				} else {
					boot2 = append(boot2, d)
					total = append(total, now.Sub(tReq))
					inGen1 = append(inGen1, now.Sub(tReq)-d)
				}
			}
		}
		timer.Stop()
		cmd.Wait()
	}
	s1, s2, st, sg := summarize(boot1), summarize(boot2), summarize(total), summarize(inGen1)
	r.printf("3 boots, medians (min-max). Kernel time is the guest's `/proc/uptime` at the first line of `/etc/boot`.\n\n")
	r.printf("| interval | median | min | max |\n|---|---|---|---|\n")
	row := func(name string, s stats) {
		r.printf("| %s | %v | %v | %v |\n", name, s.med.Round(time.Millisecond), s.min.Round(time.Millisecond), s.max.Round(time.Millisecond))
	}
	row("kernel start to first line of /etc/boot (generation 1)", s1)
	row("reboot request to first line of generation 2's /etc/boot", st)
	row("of which generation 2's kernel start to /etc/boot", s2)
	row("of which the rest: stop stage, /etc/reboot, kexec load, teardown, jump", sg)
	r.printf("\nEverything runs under TCG emulation: absolute times are several times those on hardware or KVM; the split is what matters.\n\n")
}
