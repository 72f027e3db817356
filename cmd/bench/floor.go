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
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module floor\n"), 0o644)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", "floor", ".")
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build the Go floor: %v %s", err, out)
	}
	return filepath.Join(dir, "floor"), nil
}
