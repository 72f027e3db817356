package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The Go floor: the least a Go init can do, built by the benchmark itself.
// As a supervisor it forks, execs and waits for the command after "--";
// as pid 1 it mounts devtmpfs, opens the console and runs /etc/boot. No
// Go program doing the same job can start faster, so what stageinit costs
// above it is stageinit's own.
const floorSupervisor = `package main

import (
	"os"
	"syscall"
)

func main() {
	pid, err := syscall.ForkExec(os.Args[2], os.Args[2:], &syscall.ProcAttr{Env: os.Environ(), Files: []uintptr{0, 1, 2}})
	if err != nil {
		os.Exit(127)
	}
	var ws syscall.WaitStatus
	syscall.Wait4(pid, &ws, 0, nil)
	os.Exit(ws.ExitStatus())
}
`

const floorPID1 = `package main

import "syscall"

func main() {
	syscall.Mount("devtmpfs", "/dev", "devtmpfs", 0, "")
	fd, _ := syscall.Open("/dev/console", syscall.O_RDWR, 0)
	pid, err := syscall.ForkExec("/etc/boot", []string{"/etc/boot"}, &syscall.ProcAttr{Files: []uintptr{uintptr(fd), uintptr(fd), uintptr(fd)}})
	if err == nil {
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil)
	}
	select {}
}
`

// floorPID1Marked is floorPID1 with one mark for the boot path table:
// after its spawn it logs how long main took to get there.
const floorPID1Marked = `package main

import (
	"strconv"
	"syscall"
	"time"
)

func main() {
	begin := time.Now()
	syscall.Mount("devtmpfs", "/dev", "devtmpfs", 0, "")
	fd, _ := syscall.Open("/dev/console", syscall.O_RDWR, 0)
	pid, err := syscall.ForkExec("/etc/boot", []string{"/etc/boot"}, &syscall.ProcAttr{Files: []uintptr{uintptr(fd), uintptr(fd), uintptr(fd)}})
	ms := strconv.FormatFloat(float64(time.Since(begin).Microseconds())/1000, 'f', 1, 64)
	if k, err := syscall.Open("/dev/kmsg", syscall.O_WRONLY, 0); err == nil {
		syscall.Write(k, []byte("<6>floor: boot path, ms since main: boot stage started "+ms+"\n"))
	}
	if err == nil {
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil)
	}
	select {}
}
`

// floorJob is the Go job floor: a static Go init that does exactly the
// work stageinit does before its boot stage can run, and nothing else: the
// same seven mounts, printk_devkmsg, Ctrl-Alt-Del off, a boot cgroup with
// +pids +memory and pids.max (90% of the kernel's limit, as stageinit
// computes it), /dev/null, the console and a pipe to a goroutine that
// copies the stage's stderr to /dev/kmsg, and a clone of /etc/boot into
// the cgroup in a new session. No log, no configuration, no reason, no
// watchdog. The marked build (marked = true) logs its steps' ends as
// stageinit does, for the boot path table.
const floorJob = `package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const marked = false

var begin = time.Now()
var path string

func mark(step string) {
	if marked {
		path += step + " " + strconv.FormatFloat(float64(time.Since(begin).Microseconds())/1000, 'f', 1, 64) + ", "
	}
}

func write(file, s string) {
	if fd, err := syscall.Open(file, syscall.O_WRONLY|syscall.O_CLOEXEC, 0); err == nil {
		syscall.Write(fd, []byte(s))
		syscall.Close(fd)
	}
}

func number(file string) int {
	b, _ := os.ReadFile(file)
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

func open(file string, flags int) uintptr {
	fd, _ := syscall.Open(file, flags|syscall.O_CLOEXEC, 0)
	return uintptr(fd)
}

func main() {
	const ro, rw = syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC, syscall.MS_NOSUID | syscall.MS_NOEXEC
	for _, m := range []struct {
		src, dst, fs string
		flags        uintptr
		data         string
	}{
		{"", "/", "", syscall.MS_REMOUNT | syscall.MS_NOSUID, ""},
		{"none", "/dev", "devtmpfs", rw | syscall.MS_STRICTATIME, ""},
		{"none", "/proc", "proc", ro, ""},
		{"none", "/sys", "sysfs", ro, ""},
		{"none", "/sys/fs/cgroup", "cgroup2", ro, ""},
		{"devpts", "/dev/pts", "devpts", rw, "gid=5,mode=0620,ptmxmode=000"},
		{"pstore", "/sys/fs/pstore", "pstore", ro, ""},
	} {
		os.Mkdir(m.dst, 0o755)
		syscall.Mount(m.src, m.dst, m.fs, m.flags, m.data)
	}
	mark("mounts")
	write("/proc/sys/kernel/printk_devkmsg", "on\n")
	syscall.Reboot(syscall.LINUX_REBOOT_CMD_CAD_OFF)
	mark("sysctl")
	write("/sys/fs/cgroup/cgroup.subtree_control", "+pids")
	write("/sys/fs/cgroup/cgroup.subtree_control", "+memory")
	os.Mkdir("/sys/fs/cgroup/boot", 0o755)
	write("/sys/fs/cgroup/boot/pids.max", strconv.Itoa(min(number("/proc/sys/kernel/pid_max"),
		number("/proc/sys/kernel/threads-max"))*9/10))
	cgroup := open("/sys/fs/cgroup/boot", syscall.O_DIRECTORY|syscall.O_RDONLY)
	mark("cgroup")
	null, console := open("/dev/null", syscall.O_RDWR), open("/dev/console", syscall.O_WRONLY|syscall.O_NOCTTY)
	kmsg := open("/dev/kmsg", syscall.O_WRONLY)
	r, w, _ := os.Pipe()
	go func() {
		buf := make([]byte, 4096)
		for n, err := r.Read(buf); err == nil; n, err = r.Read(buf) {
			syscall.Write(int(kmsg), buf[:n])
		}
	}()
	mark("streams")
	_, err := syscall.ForkExec("/etc/boot", []string{"/etc/boot"}, &syscall.ProcAttr{
		Env:   []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=linux"},
		Files: []uintptr{null, console, w.Fd()},
		Sys:   &syscall.SysProcAttr{Setsid: true, UseCgroupFD: true, CgroupFD: int(cgroup)},
	})
	w.Close()
	mark("boot stage started")
	if marked {
		syscall.Write(int(kmsg), []byte("<6>floor: boot path, ms since main: "+strings.TrimSuffix(path, ", ")+"\n"))
	}
	for err == nil {
		var ws syscall.WaitStatus
		_, err = syscall.Wait4(-1, &ws, 0, nil)
	}
	select {}
}
`

// buildURootInit builds u-root's own init (cmds/core/init) at the version
// go.mod pins, in a module of its own: its other dependencies (netlink,
// ...) are not stageinit's, and come through the Go proxy.
func buildURootInit() (string, error) {
	version := "v0.16.0"
	if out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/u-root/u-root").Output(); err == nil {
		version = strings.TrimSpace(string(out))
	}
	dir, err := os.MkdirTemp("", "bench-uroot")
	if err != nil {
		return "", err
	}
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module urootinit\n\ngo 1.26\n\nrequire github.com/u-root/u-root "+version+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "tools.go"), []byte("//go:build tools\n\npackage tools\n\nimport _ \"github.com/u-root/u-root/cmds/core/init\"\n"), 0o644)
	for _, args := range [][]string{{"mod", "tidy"}, {"build", "-trimpath", "-ldflags", "-s -w", "-o", "init", "github.com/u-root/u-root/cmds/core/init"}} {
		cmd := exec.Command("go", args...)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go %s u-root's init: %v %s", args[0], err, out)
		}
	}
	return filepath.Join(dir, "init"), nil
}

// buildFloor builds one of the floor programs, static like stageinit.
func buildFloor(src string) (string, error) {
	dir, err := os.MkdirTemp("", "bench-floor")
	if err != nil {
		return "", err
	}
	os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644)
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module floor\n\ngo 1.26\n"), 0o644)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", "floor", ".")
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build the Go floor: %v %s", err, out)
	}
	return filepath.Join(dir, "floor"), nil
}
