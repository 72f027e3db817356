package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
