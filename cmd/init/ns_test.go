package main

// The namespace harness runs the real binary as pid 1 of new user, pid,
// mount, net and cgroup namespaces, chrooted into a tree made for the test
// (see README, "Tests"). There kexec_file_load and devtmpfs are refused by the
// kernel, reboot(2) only ends the namespace (its init dies by SIGHUP for a
// restart, SIGINT for poweroff or halt), kill(-1) reaches only the
// namespace, /proc/sys is read-only, and console and kmsg are plain files.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const busybox = "/bin/busybox"

// node is one namespace "machine".
type node struct {
	t       *testing.T
	root    string // the chroot
	host    string // console, kmsg and cmdline files, outside the chroot
	Env     []string
	Cmdline string
	Cgroup  string // the node's delegated cgroup on the host, if any
	cmd     *exec.Cmd
	done    chan struct{}
	state   *os.ProcessState
}

func needNamespaces(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(busybox); err != nil {
		if os.Getenv("STAGEINIT_E2E") != "" {
			t.Fatalf("%s missing: make test installs busybox-static", busybox)
		}
		t.Skipf("skipping namespace test: %s missing (apt-get install busybox-static, or run make test)", busybox)
	}
	if os.Geteuid() != 0 {
		t.Skip("skipping namespace test: needs root to map uid 0 and gid 5")
	}
}

func newNode(t *testing.T) *node {
	t.Helper()
	needNamespaces(t)
	n := &node{t: t, root: t.TempDir(), host: t.TempDir(), Cmdline: "console=ttyS0 quiet"}
	for _, d := range []string{"bin", "etc", "dev", "proc", "sys", "tmp"} {
		must(t, os.MkdirAll(filepath.Join(n.root, d), 0o755))
	}
	copyFile(t, initBin, filepath.Join(n.root, "init"), 0o755)
	copyFile(t, busybox, filepath.Join(n.root, "bin/busybox"), 0o755)
	out, err := exec.Command(busybox, "--list").Output()
	must(t, err)
	for _, app := range strings.Fields(string(out)) {
		if app != "busybox" {
			os.Symlink("busybox", filepath.Join(n.root, "bin", app))
		}
	}
	for _, f := range []string{"console", "kmsg"} {
		must(t, os.WriteFile(filepath.Join(n.host, f), nil, 0o644))
	}
	return n
}

// Stage writes an executable /etc/boot or /etc/reboot (a busybox sh script).
func (n *node) Stage(name, script string) {
	n.File("/etc/"+name, "#!/bin/sh\n"+script+"\n", 0o755)
}

// File writes a file in the chroot.
func (n *node) File(path, body string, mode os.FileMode) {
	p := filepath.Join(n.root, path)
	must(n.t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(n.t, os.WriteFile(p, []byte(body), mode))
}

const setup = `set -e
R=$1 H=$2
mount --make-rprivate /
mount -t tmpfs -o mode=0755 tmpfs "$R/dev"
for f in console kmsg null zero urandom; do : > "$R/dev/$f"; done
mount --bind "$H/console" "$R/dev/console"
mount --bind "$H/kmsg" "$R/dev/kmsg"
for f in null zero urandom; do mount --bind /dev/$f "$R/dev/$f"; done
mount -t proc proc "$R/proc"
mount --bind "$H/cmdline" "$R/proc/cmdline"
mount --bind "$R/proc/sys" "$R/proc/sys"
mount -o remount,bind,ro "$R/proc/sys"
shift 2
exec chroot "$R" /init "$@"
`

// Start boots the node: /bin/sh (the host's) sets up the chroot as pid 1
// of the new namespaces, then execs init, which stays pid 1.
func (n *node) Start(timeout time.Duration, args ...string) {
	n.t.Helper()
	must(n.t, os.WriteFile(filepath.Join(n.host, "cmdline"), []byte(n.Cmdline+"\n"), 0o644))
	must(n.t, os.WriteFile(filepath.Join(n.host, "setup.sh"), []byte(setup), 0o755))
	ctx, cancel := context.WithTimeout(context.Background(), stretch(timeout))
	n.cmd = exec.CommandContext(ctx, "/bin/sh", append([]string{filepath.Join(n.host, "setup.sh"), n.root, n.host}, args...)...)
	n.cmd.Cancel = func() error { return n.cmd.Process.Signal(syscall.SIGKILL) } // timeout -s KILL
	n.cmd.Env = append([]string{"HOME=/", "TERM=linux"}, n.Env...)
	var setupErr strings.Builder
	n.cmd.Stderr = &setupErr
	n.cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID | syscall.CLONE_NEWNS |
			syscall.CLONE_NEWNET | syscall.CLONE_NEWCGROUP | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}, {ContainerID: 5, HostID: 5, Size: 1}},
		Pdeathsig:   syscall.SIGKILL,
	}
	if fd := n.delegate(); fd > 0 {
		n.cmd.SysProcAttr.UseCgroupFD, n.cmd.SysProcAttr.CgroupFD = true, fd
	}
	must(n.t, n.cmd.Start())
	n.done = make(chan struct{})
	go func() {
		n.cmd.Wait()
		n.state = n.cmd.ProcessState
		cancel()
		if s := setupErr.String(); s != "" {
			n.t.Logf("setup stderr: %s", s)
		}
		close(n.done)
	}()
	n.t.Cleanup(func() { n.cmd.Process.Signal(syscall.SIGKILL); <-n.done })
}

// delegate makes a cgroup subtree for this node in the host's cgroup2
// hierarchy and returns its fd: the node is cloned into it, so its cgroup
// namespace root is that subtree and init's stage cgroups land below it,
// never in the host's own hierarchy. It returns -1 without cgroup2.
func (n *node) delegate() int {
	n.t.Helper()
	mnt := cgroup2Mount()
	if mnt == "" {
		n.t.Log("host has no cgroup2 mount: stages run without cgroups")
		return -1
	}
	dir, err := os.MkdirTemp(mnt, "stageinit-test-")
	must(n.t, err)
	fd, err := syscall.Open(dir, syscall.O_DIRECTORY|syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	must(n.t, err)
	n.Cgroup = dir
	n.t.Cleanup(func() {
		syscall.Close(fd)
		removeCgroup(dir)
	})
	return fd
}

// removeCgroup removes a cgroup directory and its children, deepest first.
func removeCgroup(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			removeCgroup(filepath.Join(dir, e.Name()))
		}
	}
	for i := 0; i < 50 && syscall.Rmdir(dir) == syscall.EBUSY; i++ {
		time.Sleep(20 * time.Millisecond)
	}
}

func cgroup2Mount() string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 8 && strings.Contains(line, " - cgroup2 ") {
			return f[4]
		}
	}
	return ""
}

// Wait waits for the namespace init to die and returns the signal that
// killed it (SIGHUP: restart, SIGINT: poweroff or halt).
func (n *node) Wait() syscall.Signal {
	n.t.Helper()
	<-n.done
	ws := n.state.Sys().(syscall.WaitStatus)
	if !ws.Signaled() {
		n.t.Fatalf("namespace init exited %d instead of dying by a signal; console:\n%s\nkmsg:\n%s", ws.ExitStatus(), n.Console(), n.Kmsg())
	}
	return ws.Signal()
}

// ExpectEnd waits and checks how the namespace ended.
func (n *node) ExpectEnd(want syscall.Signal) {
	n.t.Helper()
	if got := n.Wait(); got != want {
		n.t.Fatalf("namespace init died by %v, want %v; console:\n%s\nkmsg:\n%s", got, want, n.Console(), tail(n.Kmsg(), 60))
	}
}

// Signal sends sig to the namespace init from outside.
func (n *node) Signal(sig syscall.Signal) { n.cmd.Process.Signal(sig) }

func (n *node) Console() string { return n.read("console") }
func (n *node) Kmsg() string    { return n.read("kmsg") }
func (n *node) read(f string) string {
	b, _ := os.ReadFile(filepath.Join(n.host, f))
	return string(b)
}

// Await polls the console for s, at most d (stretched by the calibration).
func (n *node) Await(s string, d time.Duration) { n.await("console", n.Console, s, d) }

// AwaitKmsg polls the kernel log for s.
func (n *node) AwaitKmsg(s string, d time.Duration) { n.await("kmsg", n.Kmsg, s, d) }

func (n *node) await(what string, read func() string, s string, d time.Duration) {
	n.t.Helper()
	deadline := time.Now().Add(stretch(d))
	for !strings.Contains(read(), s) {
		if time.Now().After(deadline) {
			n.t.Fatalf("%s never showed %q; console:\n%s\nkmsg:\n%s", what, s, n.Console(), tail(n.Kmsg(), 60))
		}
		select {
		case <-n.done:
			if strings.Contains(read(), s) {
				return
			}
			n.t.Fatalf("namespace ended before the %s showed %q; console:\n%s\nkmsg:\n%s", what, s, n.Console(), tail(n.Kmsg(), 60))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	must(t, err)
	must(t, os.WriteFile(dst, b, mode))
}

func contains(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, tail(text, 80))
		}
	}
}

func itoaT(n int) string { return fmt.Sprint(n) }
