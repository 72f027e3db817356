package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPty returns a new pseudo-terminal: its master, and its slave, which
// is nobody's controlling terminal yet.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	must(t, err)
	must(t, unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0))
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	must(t, err)
	slave, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	must(t, err)
	t.Cleanup(func() { master.Close(); slave.Close() })
	return master, slave
}

// terminalScript prints where the command stands on its terminal (its
// pid, process group, session and the terminal's foreground group, from
// /proc/PID/stat), then waits for the file stop, taking Ctrl-C with a trap.
const terminalScript = `read -r l < /proc/$$/stat; set -- ${l##*) }
echo "pid=$$ pgrp=$3 session=$4 tpgid=$6."
trap 'echo got INT' INT; echo ready; while [ ! -e stop ]; do sleep 0.05; done; exit 3`

// TestTerminal: started on a terminal, as `podman run -it` starts its init
// (a session of its own, with the terminal as its controlling terminal),
// or as a supervisor from an interactive shell, init puts the command in
// a process group of its own, in init's session, in the terminal's
// foreground: Ctrl-C goes to the command and not to init, which forwards
// nothing and keeps the command's exit status.
func TestTerminal(t *testing.T) {
	for _, mode := range []string{"container", "supervisor"} {
		t.Run(mode, func(t *testing.T) {
			master, slave := openPty(t)
			var term buffer
			go io.Copy(&term, master)
			dir, wait := "", func() int { return 0 }
			if mode == "container" {
				b := newBox(t)
				b.TTY, b.Flags, dir = slave, []string{"-v"}, b.Dir
				b.Start("/bin/sh", "-c", terminalScript)
				wait = b.Wait
			} else {
				dir = t.TempDir()
				cmd := exec.Command(initBin, "-v", "--", "/bin/sh", "-c", terminalScript)
				cmd.Dir, cmd.Stdin, cmd.Stdout, cmd.Stderr = dir, slave, slave, slave
				cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true} // an interactive shell's job
				must(t, cmd.Start())
				t.Cleanup(func() { cmd.Process.Kill() })
				wait = func() int { cmd.Wait(); return cmd.ProcessState.ExitCode() }
			}
			term.await(t, "ready", 10*time.Second)
			checkForeground(t, term.String())
			master.Write([]byte{3}) // Ctrl-C
			term.await(t, "got INT", 10*time.Second)
			must(t, os.WriteFile(filepath.Join(dir, "stop"), nil, 0o644))
			if code := wait(); code != 3 {
				t.Errorf("exit %d, want the command's 3; terminal:\n%s", code, term.String())
			}
			term.await(t, "exit code 3", 10*time.Second) // init's last line: all it wrote is read
			if strings.Contains(term.String(), "signal=2:") {
				t.Errorf("init got the Ctrl-C:\n%s", term.String())
			}
		})
	}
}

// checkForeground checks the command's line: it leads its own process
// group, which is the terminal's foreground, in a session that is not its
// own (init's).
func checkForeground(t *testing.T, out string) {
	t.Helper()
	f := map[string]string{}
	_, line, _ := strings.Cut(out, "pid=")
	line, _, _ = strings.Cut(line, ".")
	for _, kv := range strings.Fields("pid=" + line) {
		k, v, _ := strings.Cut(kv, "=")
		f[k] = v
	}
	if f["pid"] == "" || f["pgrp"] != f["pid"] || f["tpgid"] != f["pgrp"] || f["session"] == f["pid"] {
		t.Errorf("the command is not its own foreground group in init's session: %v; terminal:\n%s", f, out)
	}
}
