package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// box runs init the way a container runtime runs ENTRYPOINT ["/init",
// "--"]: pid 1 of new user, pid, mount and net namespaces with the
// namespace's own /proc mounted (unshare --mount-proc), in a working
// directory, and with the host's /proc/cmdline, which on these machines
// ends in "-- --firecracker-init ...". Cmdline, when set, is bound over
// /proc/cmdline first.
type box struct {
	t       *testing.T
	Dir     string
	Env     []string
	Cmdline string
	Flags   []string // init's own, before "--"
	// TTY, when set, is fd 0, 1 and 2 of init, and init starts as
	// `podman run -t` starts it: a session of its own (setsid --ctty)
	// with the terminal as its controlling terminal.
	TTY  *os.File
	cmd  *exec.Cmd
	out  bytes.Buffer
	errb bytes.Buffer
	done chan struct{}
}

func newBox(t *testing.T) *box {
	t.Helper()
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatalf("unshare (util-linux) missing: %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("skipping container test: needs root for --map-root-user in this sandbox")
	}
	return &box{t: t, Dir: t.TempDir(), done: make(chan struct{})}
}

// Start runs init -- command... in the box.
func (b *box) Start(command ...string) {
	b.t.Helper()
	args := []string{"--map-root-user", "--pid", "--mount", "--net", "--fork", "--kill-child", "--mount-proc"}
	if b.Cmdline != "" {
		f := filepath.Join(b.t.TempDir(), "cmdline")
		must(b.t, os.WriteFile(f, []byte(b.Cmdline+"\n"), 0o644))
		args = append(args, "/bin/sh", "-c", `mount --bind "$0" /proc/cmdline && exec "$@"`, f)
	}
	if b.TTY != nil {
		args = append(args, "setsid", "--ctty")
	}
	args = append(append(append(append(args, initBin), b.Flags...), "--"), command...)
	ctx, cancel := context.WithTimeout(context.Background(), stretch(60*time.Second))
	b.cmd = exec.CommandContext(ctx, "unshare", args...)
	b.cmd.Cancel = func() error { return b.cmd.Process.Signal(syscall.SIGKILL) } // unshare ignores TERM
	b.cmd.Dir, b.cmd.Env = b.Dir, b.Env
	b.cmd.Stdout, b.cmd.Stderr = &b.out, &b.errb
	if b.TTY != nil {
		b.cmd.Stdin, b.cmd.Stdout, b.cmd.Stderr = b.TTY, b.TTY, b.TTY
		b.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // a session without a terminal: setsid --ctty takes it
	}
	must(b.t, b.cmd.Start())
	go func() { b.cmd.Wait(); cancel(); close(b.done) }()
	b.t.Cleanup(func() { b.cmd.Process.Signal(syscall.SIGKILL); <-b.done })
}

// Wait returns init's exit status (unshare exits with it).
func (b *box) Wait() int {
	b.t.Helper()
	<-b.done
	if ws := b.cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signaled() {
		b.t.Fatalf("init died by %v; stdout %q stderr %q", ws.Signal(), b.out.String(), b.errb.String())
	}
	return b.cmd.ProcessState.ExitCode()
}

// Signal sends sig from outside to init, the namespace's pid 1 (the child
// of unshare, or of the shell that bound the command line, which execs it).
func (b *box) Signal(sig syscall.Signal) {
	b.t.Helper()
	pid := b.cmd.Process.Pid
	children, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(pid) + "/children")
	f := strings.Fields(string(children))
	if err != nil || len(f) != 1 {
		b.t.Fatalf("no single child of unshare: %q %v", children, err)
	}
	init, _ := strconv.Atoi(f[0])
	must(b.t, syscall.Kill(init, sig))
}

// Await waits for a file the command writes in the box's directory, at
// most 10 s (stretched by the calibration).
func (b *box) Await(name string) {
	b.t.Helper()
	for deadline := time.Now().Add(stretch(10 * time.Second)); time.Now().Before(deadline); {
		if _, err := os.Stat(filepath.Join(b.Dir, name)); err == nil {
			return
		}
		select {
		case <-b.done:
			b.t.Fatalf("init ended before %s appeared; stdout %q stderr %q", name, b.out.String(), b.errb.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	b.t.Fatalf("%s never appeared", name)
}

// TestContainerCommand: the command runs as the child of pid 1, in the
// runtime's working directory, with its arguments; its status is init's;
// neither the host's "--" in /proc/cmdline nor another one bound there
// makes init a machine.
func TestContainerCommand(t *testing.T) {
	for _, cmdline := range []string{"", "console=ttyS0 quiet -- --agent x"} {
		b := newBox(t)
		b.Cmdline = cmdline
		b.Start("/bin/sh", "-c", `echo "app in $(pwd) args $* ppid $PPID"; exit 3`, "app", "a", "b c")
		if code := b.Wait(); code != 3 || b.out.String() != "app in "+b.Dir+" args a b c ppid 1\n" {
			t.Errorf("cmdline %q: exit %d stdout %q stderr %q, want 3 and the app's line", cmdline, code, b.out.String(), b.errb.String())
		}
	}
	b := newBox(t)
	b.Start("/bin/sh", "-c", "kill -TERM $$")
	if code := b.Wait(); code != 143 {
		t.Errorf("command killed by TERM: exit %d, want 143", code)
	}
}

// TestContainerKeepsTheWorld: no TERM or PATH added, nothing else either.
func TestContainerKeepsTheWorld(t *testing.T) {
	b := newBox(t)
	b.Env = []string{"FOO=bar"}
	b.Start("/usr/bin/env")
	if code := b.Wait(); code != 0 || b.out.String() != "FOO=bar\n" {
		t.Errorf("exit %d, environment %q, want FOO=bar alone", code, b.out.String())
	}
}

// TestContainerStop: docker stop sends TERM to pid 1: it reaches the
// app's trap (exit 0); an app that ignores it is killed after the grace
// period (137).
func TestContainerStop(t *testing.T) {
	b := newBox(t)
	b.Start("/bin/sh", "-c", `trap 'echo trapped; exit 0' TERM; touch ready; while :; do sleep 0.05; done`)
	b.Await("ready")
	b.Signal(syscall.SIGTERM)
	if code := b.Wait(); code != 0 || b.out.String() != "trapped\n" {
		t.Errorf("exit %d stdout %q, want 0 and the trap's line", code, b.out.String())
	}
	b = newBox(t)
	b.Env = []string{"EP_GRACE_SECONDS=1"}
	b.Start("/bin/sh", "-c", `trap '' TERM; touch ready; while :; do sleep 0.05; done`)
	b.Await("ready")
	b.Signal(syscall.SIGTERM)
	if code := b.Wait(); code != 137 {
		t.Errorf("app ignoring TERM: exit %d, want 137; stderr %q", code, b.errb.String())
	}
}

// TestContainerOrphans: 300 orphans are adopted by pid 1 and reaped.
func TestContainerOrphans(t *testing.T) {
	b := newBox(t)
	b.Start("/bin/sh", "-c", `i=0; while [ $i -lt 300 ]; do ( (sleep 0.2; exit 3) & ); i=$((i+1)); done
sleep 2; z=0; for f in /proc/[0-9]*/stat; do read -r l < $f 2>/dev/null || continue; set -- ${l##*) }; [ "$1" = Z ] && z=$((z+1)); done
echo "zombies=$z"`)
	if code := b.Wait(); code != 0 || b.out.String() != "zombies=0\n" {
		t.Errorf("exit %d stdout %q, want 0 and zombies=0", code, b.out.String())
	}
}

// TestContainerDaemonEndsCleanly: the command starts a setsid daemon and
// exits 0. The daemon gets TERM from init, its trap writes its file, and
// only then does init exit, with the command's status; a daemon that
// ignores TERM is killed after the grace period and counted.
func TestContainerDaemonEndsCleanly(t *testing.T) {
	b := newBox(t)
	b.Start("/bin/sh", "-c", `setsid sh -c 'trap "sleep 0.3; echo saved > daemon.out; exit 0" TERM; touch ready; while :; do sleep 0.05; done' &
while [ ! -e ready ]; do sleep 0.01; done; exit 0`)
	if code := b.Wait(); code != 0 {
		t.Errorf("exit %d, want the command's 0; stderr %q", code, b.errb.String())
	}
	if got, _ := os.ReadFile(filepath.Join(b.Dir, "daemon.out")); string(got) != "saved\n" {
		t.Errorf("the daemon's trap did not finish: daemon.out %q; stderr %q", got, b.errb.String())
	}
	contains(t, "stderr", b.errb.String(), "processes left: TERM and CONT")
	b = newBox(t)
	b.Env = []string{"EP_GRACE_SECONDS=1"}
	b.Start("/bin/sh", "-c", `setsid sh -c 'trap "" TERM; touch ready; while :; do sleep 0.05; done' &
while [ ! -e ready ]; do sleep 0.01; done; exit 5`)
	if code := b.Wait(); code != 5 {
		t.Errorf("exit %d, want the command's 5; stderr %q", code, b.errb.String())
	}
	contains(t, "stderr", b.errb.String(), "processes that outlived the grace period of 1s")
}

// TestMachineIgnoresForeignDashes: pid 1 without "--" in its arguments is
// a machine even when /proc/cmdline ends in "-- ...": it runs /etc/boot.
func TestMachineIgnoresForeignDashes(t *testing.T) {
	n := newNode(t)
	n.Cmdline = "console=ttyS0 rdinit=/x -- --agent --port 2024"
	n.Stage("boot", `echo "boot ran"; touch /poweroff`)
	n.Start(30 * time.Second)
	n.ExpectEnd(syscall.SIGINT)
	contains(t, "console", n.Console(), "boot ran")
	contains(t, "kmsg", n.Kmsg(), `config: boot ["/etc/boot"]`)
}
