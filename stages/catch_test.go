package stages

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// next waits for the pipe and returns the next signal it holds.
func next(t *testing.T, fd int) syscall.Signal {
	t.Helper()
	ch := make(chan syscall.Signal, 256)
	for len(ch) == 0 {
		if _, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 5000); err != nil && err != unix.EINTR {
			t.Fatal(err)
		}
		ReadSignals(fd, ch)
	}
	return <-ch
}

// TestNotifyCatches: signals a process sends, SIGSEGV, SIGTERM and
// SIGCHLD among them, reach the pipe and end nobody; no signal but KILL
// and STOP keeps its default; a fault the kernel raises is still the Go
// runtime's, a panic that recover takes.
func TestNotifyCatches(t *testing.T) {
	fd, err := Notify()
	if err != nil {
		t.Fatal(err)
	}
	status, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "SigCgt:\t"); ok {
			caught, _ := strconv.ParseUint(v, 16, 64)
			if want := ^uint64(1<<(syscall.SIGKILL-1) | 1<<(syscall.SIGSTOP-1)); caught != want {
				t.Errorf("caught %016x, want every signal but KILL and STOP (%016x)", caught, want)
			}
		}
	}
	sent := []syscall.Signal{syscall.SIGHUP, syscall.SIGSEGV, syscall.SIGTERM, syscall.SIGUSR1, syscall.SIGINT,
		syscall.SIGCHLD, 32, 34, syscall.Signal(40)}
	for _, sig := range sent {
		if err := syscall.Kill(os.Getpid(), sig); err != nil {
			t.Fatal(err)
		}
		if got := next(t, fd); got != sig {
			t.Errorf("sent %v, received %v", sig, got)
		}
	}
	defer func() {
		if r := recover(); r == nil {
			t.Error("a nil dereference did not panic")
		}
	}()
	var p *int
	t.Log(*p)
}
