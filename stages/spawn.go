package stages

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// Spec describes one run of a stage.
type Spec struct {
	Name  string   // "boot", "reboot" or the command's base name
	Argv  []string // Argv[0] is the program; looked up in PATH if it has no slash
	Env   []string
	Dir   string     // working directory; "" means /
	Files [3]uintptr // fds that become the stage's 0, 1 and 2
	// Cgroup, when set, is the cgroup the stage is cloned into (clone3
	// CLONE_INTO_CGROUP): it never runs outside it, not even briefly.
	Cgroup *Cgroup
	// NoRestart turns the restart policy off for this stage (/etc/reboot).
	NoRestart bool
}

// spawn starts the stage as the leader of a new session (setsid(2): sid =
// pgid = pid). Signal handlers the Go runtime installed are reset to SIG_DFL
// in the child; init never ignores a signal, so none is inherited ignored.
// Only Files become open fds: everything init opens is O_CLOEXEC.
func spawn(s Spec) (int, error) {
	if len(s.Argv) == 0 {
		return 0, fmt.Errorf("spawn %s: empty command: %w", s.Name, syscall.ENOENT)
	}
	path := s.Argv[0]
	if !strings.Contains(path, "/") {
		lp, err := exec.LookPath(path)
		if err != nil {
			return 0, fmt.Errorf("spawn %s: %s not found in PATH: %w", s.Name, path, syscall.ENOENT)
		}
		path = lp
	}
	dir := s.Dir
	if dir == "" {
		dir = "/"
	}
	sys := &syscall.SysProcAttr{Setsid: true}
	if s.Cgroup != nil {
		sys.UseCgroupFD = true
		sys.CgroupFD = s.Cgroup.fd
	}
	pid, err := syscall.ForkExec(path, s.Argv, &syscall.ProcAttr{
		Dir:   dir,
		Env:   s.Env,
		Files: s.Files[:],
		Sys:   sys,
	})
	if err != nil {
		return 0, &ExecError{Path: path, Err: err}
	}
	return pid, nil
}

// ExecError is a stage that could not be started.
type ExecError struct {
	Path string
	Err  error
}

func (e *ExecError) Error() string {
	return fmt.Sprintf("execve %s: %v (%s)", e.Path, e.Err, e.Reason())
}

func (e *ExecError) Unwrap() error { return e.Err }

// Reason names the cause the way a shell would.
func (e *ExecError) Reason() string {
	switch {
	case errors.Is(e.Err, syscall.ENOENT) && exists(e.Path):
		return "bad interpreter"
	case errors.Is(e.Err, syscall.ENOENT), errors.Is(e.Err, syscall.ENOTDIR):
		return "not found"
	case errors.Is(e.Err, syscall.ENOEXEC):
		return "not an executable format"
	case errors.Is(e.Err, syscall.EACCES):
		return "permission denied or a directory"
	default:
		return "cannot execute"
	}
}

// ExitCode is the conventional shell status for a failed execve(2): 127 when
// the program does not exist, 126 when it exists but cannot be executed
// (including a #! line naming a missing interpreter).
func ExitCode(err error) int {
	var ee *ExecError
	if errors.As(err, &ee) {
		if ee.Reason() == "not found" {
			return 127
		}
		return 126
	}
	if errors.Is(err, syscall.ENOENT) {
		return 127
	}
	return 126
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
