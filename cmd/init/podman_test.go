package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A real container runtime: podman with runc (crun cannot run on a
// cgroup hybrid host; runc needs the ulimits below here). The image is a
// busybox root file system imported offline, with init at /init.
var (
	podmanOnce  sync.Once
	podmanImage string
	podmanErr   error
)

var podmanFlags = []string{"--runtime", "runc", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"}

// needPodman imports the test image once, or says why podman cannot run.
func needPodman(t *testing.T) string {
	t.Helper()
	needNamespaces(t)
	podmanOnce.Do(func() {
		if _, podmanErr = exec.LookPath("podman"); podmanErr == nil {
			podmanImage, podmanErr = importImage()
		}
	})
	if podmanErr != nil {
		if os.Getenv("STAGEINIT_E2E") != "" {
			t.Fatalf("podman cannot run (make test installs podman and runc): %v", podmanErr)
		}
		t.Skipf("skipping podman test: %v", podmanErr)
	}
	return podmanImage
}

// importImage makes the image: busybox, its applets and /init, with
// ENTRYPOINT ["/init", "-v", "--"].
func importImage() (string, error) {
	root, err := os.MkdirTemp("", "stageinit-rootfs")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(root)
	for _, d := range []string{"bin", "tmp", "proc", "sys", "dev"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	for src, dst := range map[string]string{busybox: "bin/busybox", initBin: "init"} {
		if b, err := exec.Command("cp", src, filepath.Join(root, dst)).CombinedOutput(); err != nil {
			return "", fmt.Errorf("cp %s: %v: %s", src, err, b)
		}
	}
	for _, app := range []string{"sh", "sleep", "cat", "cut", "touch", "ls"} {
		os.Symlink("busybox", filepath.Join(root, "bin", app))
	}
	name := fmt.Sprintf("localhost/stageinit-test:%d", os.Getpid())
	tar := exec.Command("tar", "-C", root, "-c", ".")
	imp := exec.Command("podman", "import", "--change", `ENTRYPOINT ["/init", "-v", "--"]`, "-", name)
	imp.Stdin, _ = tar.StdoutPipe()
	if err := tar.Start(); err != nil {
		return "", err
	}
	out, err := imp.CombinedOutput()
	if tar.Wait(); err != nil {
		return "", fmt.Errorf("podman import: %v: %s", err, out)
	}
	return name, nil
}

// podman runs `podman run` with init either as the image's ENTRYPOINT or
// injected by --init --init-path (how podman and docker run their init).
func podman(t *testing.T, entry bool, flags []string, command ...string) *exec.Cmd {
	image := needPodman(t)
	args := append(append([]string{"run", "--rm"}, podmanFlags...), flags...)
	if !entry {
		args = append(args, "--init", "--init-path", initBin, "--entrypoint", "")
	}
	ctx, cancel := context.WithTimeout(context.Background(), stretch(60*time.Second))
	t.Cleanup(cancel)
	return exec.CommandContext(ctx, "podman", append(append(args, image), command...)...)
}

// TestPodman: under podman, both ways: the command's exit status, 200
// orphans reaped, a forwarded USR1 (podman kill -s), podman stop (TERM
// to the command's trap).
func TestPodman(t *testing.T) {
	for _, entry := range []bool{false, true} {
		t.Run(map[bool]string{false: "init-path", true: "entrypoint"}[entry], func(t *testing.T) {
			out, err := podman(t, entry, nil, "/bin/sh", "-c", "exit 3").CombinedOutput()
			if code := exitCode(err); code != 3 {
				t.Errorf("exit %d, want 3: %s", code, out)
			}
			out, err = podman(t, entry, nil, "/bin/sh", "-c", `i=0; while [ $i -lt 200 ]; do ( (sleep 0.2) & ); i=$((i+1)); done
sleep 2; z=0; for f in /proc/[0-9]*/stat; do read -r l < $f 2>/dev/null || continue; set -- ${l##*) }; [ "$1" = Z ] && z=$((z+1)); done
echo "zombies=$z"`).CombinedOutput()
			if !strings.Contains(string(out), "zombies=0") || err != nil {
				t.Errorf("orphans: %v: %s", err, out)
			}
			podmanStop(t, entry)
		})
	}
}

func podmanStop(t *testing.T, entry bool) {
	name := fmt.Sprintf("stageinit-test-%d-%v", os.Getpid(), entry)
	var out buffer
	c := podman(t, entry, []string{"--name", name}, "/bin/sh", "-c",
		`trap 'echo got USR1' USR1; trap 'echo trapped; exit 0' TERM; echo ready; while :; do sleep 0.05; done`)
	c.Stdout, c.Stderr = &out, &out
	must(t, c.Start())
	out.await(t, "ready", 30*time.Second)
	if b, err := exec.Command("podman", "kill", "-s", "USR1", name).CombinedOutput(); err != nil {
		t.Fatalf("podman kill: %v: %s", err, b)
	}
	out.await(t, "got USR1", 10*time.Second)
	if b, err := exec.Command("podman", "stop", "-t", "30", name).CombinedOutput(); err != nil {
		t.Fatalf("podman stop: %v: %s", err, b)
	}
	if err := c.Wait(); err != nil || !strings.Contains(out.String(), "trapped") {
		t.Errorf("podman stop: %v, want exit 0 after the trap: %s", err, out.String())
	}
}

// TestPodmanTerminal: `podman run -it` on a pseudo-terminal: the command
// is the foreground of the container's terminal, and Ctrl-C reaches its
// trap; init (-v as the ENTRYPOINT) receives no SIGINT.
func TestPodmanTerminal(t *testing.T) {
	for _, entry := range []bool{false, true} {
		t.Run(map[bool]string{false: "init-path", true: "entrypoint"}[entry], func(t *testing.T) {
			master, slave := openPty(t)
			var term buffer
			go io.Copy(&term, master)
			name := fmt.Sprintf("stageinit-tty-%d-%v", os.Getpid(), entry)
			c := podman(t, entry, []string{"-it", "--name", name, "-w", "/tmp"}, "/bin/sh", "-c", terminalScript)
			c.Stdin, c.Stdout, c.Stderr = slave, slave, slave
			c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
			must(t, c.Start())
			term.await(t, "ready", 30*time.Second)
			checkForeground(t, term.String())
			master.Write([]byte{3}) // Ctrl-C
			term.await(t, "got INT", 10*time.Second)
			if b, err := exec.Command("podman", "exec", name, "touch", "/tmp/stop").CombinedOutput(); err != nil {
				t.Fatalf("podman exec: %v: %s", err, b)
			}
			code := exitCode(c.Wait())
			if entry { // init -v's last line: all it wrote is read
				term.await(t, "exit code 3", 10*time.Second)
			}
			if code != 3 || strings.Contains(term.String(), "signal=2:") {
				t.Errorf("exit %d, want the command's 3 and no SIGINT to init; terminal:\n%s", code, term.String())
			}
		})
	}
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
