package console

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stageinit/stageinit/kmsg"
	"golang.org/x/sys/unix"
)

// dev makes a directory with the named device stand-ins: plain files, or
// symlinks for "name->target".
func dev(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		var err error
		if name, target, ok := strings.Cut(n, "->"); ok {
			err = os.Symlink(target, filepath.Join(dir, name))
		} else {
			err = os.WriteFile(filepath.Join(dir, n), nil, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestOpen(t *testing.T) {
	for _, tc := range []struct {
		files    []string
		warnings []string
		out      string // where init's own log goes
		kmsg     bool
	}{
		{[]string{"null", "console", "kmsg"}, nil, "kmsg", true},
		{[]string{"null", "console"}, []string{"kmsg: no such file or directory: the relay writes to the console"}, "console", false},
		{[]string{"null"}, []string{"stage stdout goes to the kmsg relay", "the relay writes to the console"}, "", false},
	} {
		s, warns := Open(dev(t, tc.files...))
		if len(warns) != len(tc.warnings) {
			t.Errorf("%v: warnings %q, want %q", tc.files, warns, tc.warnings)
			continue
		}
		for i, w := range tc.warnings {
			if !strings.Contains(warns[i], w) {
				t.Errorf("%v: warning %q lacks %q", tc.files, warns[i], w)
			}
		}
		w, kmsgStyle := s.LogOutput()
		name := ""
		if f, ok := w.(*os.File); ok {
			name = filepath.Base(f.Name())
		} else if fd, ok := w.(kmsg.FD); ok {
			p, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
			name = filepath.Base(p)
		} else if w != io.Discard {
			t.Errorf("%v: log output %T", tc.files, w)
		}
		if name != tc.out || kmsgStyle != tc.kmsg {
			t.Errorf("%v: log goes to %q (kmsg %v), want %q (%v)", tc.files, name, kmsgStyle, tc.out, tc.kmsg)
		}
	}
}

// run starts sh -c script with the stage's fds, as the loop would, and
// waits for its relay to read the pipe to its end. It returns the stage's
// pid and the lines the kernel refused.
func run(t *testing.T, s *Streams, log *kmsg.Logger, script string) (int, uint64) {
	t.Helper()
	files, rl, err := s.Stage("boot", log)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", script}, &syscall.ProcAttr{Files: files[:]})
	if err != nil {
		t.Fatal(err)
	}
	rl.Start(pid)
	var ws syscall.WaitStatus
	syscall.Wait4(pid, &ws, 0, nil)
	select {
	case <-rl.End():
	case <-time.After(10 * time.Second):
		t.Fatal("the relay never read the pipe to its end")
	}
	return pid, rl.Dropped()
}

// TestStage: stdout on the console, stderr in kmsg records tagged with the
// stage and its pid, a last line without newline flushed at the end.
func TestStage(t *testing.T) {
	dir := dev(t, "null", "console", "kmsg")
	s, _ := Open(dir)
	pid, _ := run(t, s, kmsg.NewLogger(io.Discard, false, nil), `echo out; echo err >&2; echo "<3>bad" >&2; printf partial >&2`)
	console, _ := os.ReadFile(filepath.Join(dir, "console"))
	records, _ := os.ReadFile(filepath.Join(dir, "kmsg"))
	want := fmt.Sprintf("<6>boot[%d]: err\n<3>boot[%d]: bad\n<6>boot[%d]: partial\n", pid, pid, pid)
	if string(console) != "out\n" || string(records) != want {
		t.Errorf("console %q kmsg %q, want %q and %q", console, records, "out\n", want)
	}
}

// TestStageDropped: lines the kernel refuses are counted.
func TestStageDropped(t *testing.T) {
	s, _ := Open(dev(t, "null", "console", "kmsg->/dev/full"))
	if _, n := run(t, s, kmsg.NewLogger(io.Discard, false, nil), `echo one >&2; echo two >&2; echo three >&2`); n != 3 {
		t.Errorf("%d lines counted as dropped, want 3", n)
	}
}

// TestLogNeverWaits: with no kmsg, init's own lines go to a console that
// no one drains (a pty whose other end nobody reads, as a console stopped
// by XOFF): the writes fail at once instead of waiting, and the stages'
// stdout is still the blocking console.
func TestLogNeverWaits(t *testing.T) {
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer ptmx.Close()
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err == nil {
		err = unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0)
	}
	if err != nil {
		t.Fatal(err)
	}
	s, _ := Open(dev(t, "null", fmt.Sprintf("console->/dev/pts/%d", n)))
	w, _ := s.LogOutput()
	done := make(chan int)
	go func() {
		failed := 0
		for i := 0; i < 10000; i++ {
			if _, err := w.Write([]byte(strings.Repeat("x", 99) + "\n")); err != nil {
				failed++
			}
		}
		done <- failed
	}()
	select {
	case failed := <-done:
		if failed == 0 {
			t.Error("1 MB went into a pty nobody reads")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a write to the console waited")
	}
	if fl, _ := unix.FcntlInt(s.Console.Fd(), unix.F_GETFL, 0); fl&unix.O_NONBLOCK != 0 {
		t.Error("the stages' stdout is nonblocking")
	}
}
