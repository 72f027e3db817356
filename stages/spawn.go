package stages

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/stageinit/stageinit/machine"
)

// Spec describes one run of a stage.
type Spec struct {
	Name  string   // "boot", "reboot", or the command's base name
	Argv  []string // Argv[0] is looked up in PATH when it has no slash
	Env   []string
	Dir   string     // working directory; "" keeps init's own
	Files [3]uintptr // the stage's fds 0, 1 and 2
	// Cgroup, when set, is the cgroup the stage is cloned into (clone3(2)
	// CLONE_INTO_CGROUP): it never runs outside it, not even briefly.
	Cgroup *Cgroup
	// NoRestart turns EP_RESTART_ENABLED off for this stage (/etc/reboot).
	NoRestart bool
	// Terminal: fd 0 is init's controlling terminal and init's process
	// group its foreground. The stage then leads a process group of its
	// own in init's session instead of a new session, in the terminal's
	// foreground, as under tini: job control works, and Ctrl-C goes to the
	// stage, not to init.
	Terminal bool
	// Ctty: Files[0] is a terminal that becomes the controlling terminal
	// of the stage's new session (TIOCSCTTY): the rescue shell's.
	Ctty bool
}

// spawn starts the stage as the leader of a new session (setsid(2): sid =
// pgid = pid), or, on a terminal, of a new process group in the terminal's
// foreground (setpgid(2), then TIOCSPGRP in the child, which Go makes
// before it unblocks signals: no SIGTTOU). The Go runtime resets the handlers it installed to SIG_DFL
// in the child and clears its signal mask; init never ignores a signal, so
// none is inherited ignored. Only Files become open fds: everything init
// opens is O_CLOEXEC.
func spawn(m machine.Machine, s Spec) (int, error) {
	if len(s.Argv) == 0 {
		return 0, fmt.Errorf("spawn %s: empty command: %w", s.Name, syscall.ENOENT)
	}
	path := s.Argv[0]
	if !strings.Contains(path, "/") {
		lp, err := lookPath(path)
		if err != nil {
			return 0, fmt.Errorf("spawn %s: %s not found in PATH: %w", s.Name, path, syscall.ENOENT)
		}
		path = lp
	}
	// Ctty 0: init's fd 0 for Foreground, the stage's fd 0 for Setctty.
	sys := &syscall.SysProcAttr{Setsid: !s.Terminal, Foreground: s.Terminal, Setctty: s.Ctty}
	if s.Cgroup != nil {
		sys.UseCgroupFD, sys.CgroupFD = true, s.Cgroup.fd
	}
	pid, err := m.Spawn(path, s.Argv, &syscall.ProcAttr{Dir: s.Dir, Env: s.Env, Files: s.Files[:], Sys: sys})
	if err != nil {
		return 0, &execError{Path: path, Err: err}
	}
	return pid, nil
}

// execError is a stage that could not be started (execve(2) failed).
type execError struct {
	Path string
	Err  error
}

func (e *execError) Error() string {
	return fmt.Sprintf("execve %s: %v (%s)", e.Path, e.Err, e.reason())
}

func (e *execError) Unwrap() error { return e.Err }

// reason names the cause the way a shell would.
func (e *execError) reason() string {
	switch {
	case errors.Is(e.Err, syscall.ENOENT) && exists(e.Path):
		return "bad interpreter"
	case errors.Is(e.Err, syscall.ENOENT), errors.Is(e.Err, syscall.ENOTDIR):
		return "not found"
	case errors.Is(e.Err, syscall.ENOEXEC):
		return "not an executable format"
	case errors.Is(e.Err, syscall.EACCES):
		return "permission denied or a directory"
	}
	return "cannot execute"
}

// exitCode is the shell's status for a command that could not start: 127
// when it does not exist, 126 when it cannot be executed (a #! line
// naming a missing interpreter included).
func exitCode(err error) int {
	var ee *execError
	if errors.As(err, &ee) && ee.reason() != "not found" {
		return 126
	}
	if ee == nil && !errors.Is(err, syscall.ENOENT) {
		return 126
	}
	return 127
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// lookPath finds file in $PATH as a shell does: the first executable
// regular file. (os/exec's LookPath, without the 100 KB that os/exec
// costs the binary.)
func lookPath(file string) (string, error) {
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", os.ErrNotExist
}
