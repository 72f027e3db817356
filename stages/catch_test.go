package stages

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// TestNotifyCatches: signals a process sends, SIGSEGV and SIGTERM among
// them, reach the channel and end nobody; a fault the kernel raises is
// still the Go runtime's, a panic that recover takes.
func TestNotifyCatches(t *testing.T) {
	sigs, relay, err := Notify()
	if err != nil {
		t.Fatal(err)
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP) // waits in the pipe for relay
	go relay()
	if got := <-sigs; got != syscall.SIGHUP {
		t.Errorf("sent SIGHUP before relay ran, received %v", got)
	}
	sent := []syscall.Signal{syscall.SIGSEGV, syscall.SIGTERM, syscall.SIGUSR1, syscall.SIGINT, syscall.Signal(40)}
	for _, sig := range sent {
		if err := syscall.Kill(os.Getpid(), sig); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-sigs:
			if got != sig {
				t.Errorf("sent %v, received %v", sig, got)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("sent %v, nothing received in 5s", sig)
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
