package machine

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// TestKillAllOnlyPID1: kill(-1) is refused outside pid 1 (signal 0, so
// that a broken guard would still harm nothing).
func TestKillAllOnlyPID1(t *testing.T) {
	if os.Getpid() == 1 {
		t.Skip("the test runs as pid 1")
	}
	if err := (Real{}).Kill(-1, 0); !errors.Is(err, syscall.EPERM) {
		t.Errorf("kill -1 from pid %d: %v, want EPERM", os.Getpid(), err)
	}
	if err := (Real{}).Kill(os.Getpid(), 0); err != nil {
		t.Errorf("kill of itself with signal 0: %v", err)
	}
}

// TestHelperRefusesStrangers: the poweroff helper does nothing unless asked,
// and refuses to run when its parent is not pid 1.
func TestHelperRefusesStrangers(t *testing.T) {
	Helper([]string{"init"})
	Helper([]string{"init", "--", "x"})
	if os.Getenv("MACHINE_HELPER_CHILD") == "1" {
		Helper([]string{"init", helperFlag + "0x4321fedc"}) // must exit 2
		return
	}
	cmd := execSelf(t, "-test.run=^TestHelperRefusesStrangers$")
	if err := cmd.Run(); cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 2 {
		t.Errorf("helper outside pid 1: %v, want exit 2", err)
	}
}

func execSelf(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "MACHINE_HELPER_CHILD=1")
	return cmd
}
