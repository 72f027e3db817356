package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// delegate makes a cgroup subtree in the host's cgroup2 hierarchy for one
// measurement, so nothing lands in the host's own cgroups.
func delegate() (dir string, fd int, done func()) {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 8 && strings.Contains(line, " - cgroup2 ") {
			dir, _ = os.MkdirTemp(f[4], "stageinit-bench-")
			break
		}
	}
	if dir == "" {
		return "", -1, func() {}
	}
	fd, _ = unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	return dir, fd, func() {
		unix.Close(fd)
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.IsDir() {
				unix.Rmdir(filepath.Join(dir, e.Name()))
			}
		}
		unix.Rmdir(dir)
	}
}

const relayLines = `awk -v mode=$1 'BEGIN { long = sprintf("%1500s", ""); gsub(/ /, "x", long)
  for (i = 1; i <= 100000; i++) if (i % 100 == 0) print "L" i " " long; else print "L" i
  print "DONE" }'`

// relay: pid 1 in a namespace with a FIFO as kmsg; 100,000 stderr lines
// (one in a hundred over 1 KiB) through the relay, against the same lines
// written to the FIFO directly.
func (r *report) relay(bin string) {
	r.printf("## 6. stderr relay (pid 1 mode)\n\nstageinit as pid 1 of user+pid+mount+net+cgroup namespaces, `/dev/kmsg` a FIFO read by the benchmark. The boot stage writes 100,000 lines (every 100th 1.5 KiB) to stderr (through the relay: one record per line, long lines split) or straight into the FIFO.\n\n")
	r.printf("| path | lines/s | lines delivered | records |\n|---|---|---|---|\n")
	for _, direct := range []bool{false, true} {
		lps, pct, recs, err := relayRun(bin, direct)
		name := "relay (stage stderr)"
		if direct {
			name = "direct write to the FIFO"
		}
		if err != nil {
			r.printf("| %s | failed: %v | | |\n", name, err)
			continue
		}
		r.printf("| %s | %.0f | %.2f%% | %d |\n", name, lps, pct, recs)
	}
	r.printf("\n")
}

func relayRun(bin string, direct bool) (float64, float64, int, error) {
	root, _ := os.MkdirTemp("", "bench-root")
	host, _ := os.MkdirTemp("", "bench-host")
	defer os.RemoveAll(root)
	defer os.RemoveAll(host)
	for _, d := range []string{"bin", "etc", "dev", "proc", "sys", "tmp"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	copyFile(bin, filepath.Join(root, "init"))
	copyFile("/bin/busybox", filepath.Join(root, "bin/busybox"))
	out, _ := exec.Command("/bin/busybox", "--list").Output()
	for _, app := range strings.Fields(string(out)) {
		os.Symlink("busybox", filepath.Join(root, "bin", app))
	}
	redirect := ">&2"
	if direct {
		redirect = "> /dev/kmsg"
	}
	os.WriteFile(filepath.Join(root, "etc/boot"), []byte("#!/bin/sh\n"+relayLines+" "+redirect+"\nkill -USR2 1; sleep 100\n"), 0o755)
	os.WriteFile(filepath.Join(host, "console"), nil, 0o644)
	os.WriteFile(filepath.Join(host, "cmdline"), []byte("quiet\n"), 0o644)
	unix.Mkfifo(filepath.Join(host, "kmsg"), 0o644)
	fifo, err := os.OpenFile(filepath.Join(host, "kmsg"), os.O_RDWR, 0)
	if err != nil {
		return 0, 0, 0, err
	}
	defer fifo.Close()
	setup := `set -e; R=$1 H=$2; mount --make-rprivate /
mount -t tmpfs -o mode=0755 tmpfs "$R/dev"; for f in console kmsg null zero; do : > "$R/dev/$f"; done
mount --bind "$H/console" "$R/dev/console"; mount --bind "$H/kmsg" "$R/dev/kmsg"
mount --bind /dev/null "$R/dev/null"; mount --bind /dev/zero "$R/dev/zero"
mount -t proc proc "$R/proc"; mount --bind "$H/cmdline" "$R/proc/cmdline"
mount --bind "$R/proc/sys" "$R/proc/sys"; mount -o remount,bind,ro "$R/proc/sys"
exec chroot "$R" /init`
	cmd := exec.Command("/bin/sh", "-c", setup, "setup", root, host)
	cmd.Env = []string{"HOME=/", "TERM=linux"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID | syscall.CLONE_NEWNS |
			syscall.CLONE_NEWNET | syscall.CLONE_NEWCGROUP,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}, {ContainerID: 5, HostID: 5, Size: 1}},
		Pdeathsig:   syscall.SIGKILL,
	}
	if _, fd, done := delegate(); fd > 0 {
		defer done()
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
	}
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	seen := map[string]bool{}
	recs := 0
	var first, last time.Time
	token := regexp.MustCompile(`^(?:<\d>boot\[\d+\]: )?(L\d+)`)
	sc := bufio.NewScanner(fifo)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	deadline := time.AfterFunc(5*time.Minute, func() { fifo.Close() })
	defer deadline.Stop()
	for sc.Scan() {
		line := sc.Text()
		recs++
		if !strings.Contains(line, "L") && !strings.Contains(line, "DONE") {
			continue // a continuation record of a long line
		}
		if first.IsZero() {
			first = time.Now()
		}
		if strings.HasSuffix(line, "DONE") {
			last = time.Now()
			break
		}
		if m := token.FindStringSubmatch(line); m != nil {
			seen[m[1]] = true
		}
	}
	if last.IsZero() {
		return 0, 0, recs, nil
	}
	return float64(len(seen)) / last.Sub(first).Seconds(), float64(len(seen)) / 1000, recs, nil
}

func copyFile(src, dst string) {
	b, _ := os.ReadFile(src)
	os.WriteFile(dst, b, 0o755)
}

// cgroupKill: request to "stage gone" for a stage of 1,000 processes, with
// cgroup.kill and cgroup.events against kill(-pgid) and polling.
func (r *report) cgroupKill() {
	r.printf("## 7. Killing a stage of 1,000 processes (issue 8)\n\nTime from the kill to the stage being gone: `cgroup.kill` then `populated 0` in `cgroup.events` (poll(2)), against `kill(-pgid, SIGKILL)` then polling `kill(-pgid, 0)` until ESRCH (every zombie reaped by a subreaper). 5 rounds each, interleaved.\n\n")
	dir, fd, done := delegate()
	defer done()
	if fd < 0 {
		r.printf("no cgroup2 on this machine: skipped\n\n")
		return
	}
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				var ws unix.WaitStatus
				if pid, _ := unix.Wait4(-1, &ws, unix.WNOHANG, nil); pid <= 0 {
					time.Sleep(time.Millisecond)
				}
			}
		}
	}()
	defer close(stop)
	var viaCg, viaPg []time.Duration
	script := `i=0; while [ $i -lt 999 ]; do sleep 1000 & i=$((i+1)); done; exec sleep 1000`
	for round := 0; round < 10; round++ {
		cg := filepath.Join(dir, "stage"+strconv.Itoa(round))
		os.Mkdir(cg, 0o755)
		cgfd, _ := unix.Open(cg, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
		pid, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", script}, &syscall.ProcAttr{
			Files: []uintptr{0, 1, 2}, Sys: &syscall.SysProcAttr{Setsid: true, UseCgroupFD: true, CgroupFD: cgfd}})
		unix.Close(cgfd)
		if err != nil {
			r.printf("spawn: %v\n\n", err)
			return
		}
		for i := 0; i < 1000 && procs(cg) < 1000; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		begin := time.Now()
		if round%2 == 0 {
			os.WriteFile(filepath.Join(cg, "cgroup.kill"), []byte("1"), 0)
			waitEmpty(cg)
			viaCg = append(viaCg, time.Since(begin))
		} else {
			unix.Kill(-pid, unix.SIGKILL)
			for unix.Kill(-pid, 0) != unix.ESRCH {
				time.Sleep(time.Millisecond)
			}
			viaPg = append(viaPg, time.Since(begin))
		}
		waitEmpty(cg)
		unix.Rmdir(cg)
	}
	a, b := summarize(viaCg), summarize(viaPg)
	r.printf("| method | median | min | max |\n|---|---|---|---|\n")
	r.printf("| cgroup.kill + cgroup.events | %v | %v | %v |\n", a.med.Round(time.Microsecond), a.min.Round(time.Microsecond), a.max.Round(time.Microsecond))
	r.printf("| kill(-pgid) + kill(-pgid, 0) polling | %v | %v | %v |\n\n", b.med.Round(time.Microsecond), b.min.Round(time.Microsecond), b.max.Round(time.Microsecond))
	r.printf("cgroup.kill also reaches what left the process group (setsid daemons, double forks), which kill(-pgid) never does.\n\n")
}

func procs(cg string) int {
	b, _ := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
	return len(strings.Fields(string(b)))
}

func waitEmpty(cg string) {
	fd, err := unix.Open(filepath.Join(cg, "cgroup.events"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	buf := make([]byte, 256)
	for i := 0; i < 10000; i++ {
		n, _ := unix.Pread(fd, buf, 0)
		if strings.Contains(string(buf[:n]), "populated 0") {
			return
		}
		unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLPRI}}, 100)
	}
}
