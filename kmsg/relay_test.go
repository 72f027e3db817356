package kmsg

import (
	"io"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// recorder keeps each Write as one record, like /dev/kmsg does.
type recorder struct {
	mu   sync.Mutex
	recs []string
}

func (r *recorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, string(b))
	return len(b), nil
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.recs...)
}

func TestRelay(t *testing.T) {
	rec := &recorder{}
	rl, err := NewRelay(rec, true, "boot", NewLogger(io.Discard, false, nil))
	if err != nil {
		t.Fatal(err)
	}
	pw := rl.W
	rl.Start(42)
	long := strings.Repeat("x", 200<<10) // longer than maxPending
	pw.WriteString("one\n<3>two\ntw")
	pw.WriteString("o and a half\n" + long + "\nlast without newline")
	pw.Close()
	if !wait(rl, 5*time.Second) {
		t.Fatal("relay did not see EOF")
	}
	recs := rec.all()
	if len(recs) < 4 || recs[0] != "<6>boot[42]: one\n" || recs[1] != "<3>boot[42]: two\n" ||
		recs[2] != "<6>boot[42]: two and a half\n" {
		t.Fatalf("records: %q", recs[:min(4, len(recs))])
	}
	var body strings.Builder
	for _, r := range recs[3 : len(recs)-1] {
		if len(r) > maxRecord {
			t.Errorf("record of %d bytes", len(r))
		}
		body.WriteString(strings.TrimSuffix(strings.TrimPrefix(r, "<6>boot[42]: "), "\n"))
	}
	if body.String() != long {
		t.Errorf("long line: got %d bytes back, want %d", body.Len(), len(long))
	}
	if last := recs[len(recs)-1]; last != "<6>boot[42]: last without newline\n" {
		t.Errorf("last record %q", last)
	}
}

// TestRelayEndWhileHeldOpen: End writes a partial line while a
// "grandchild" still holds the pipe open, and the relay goes on.
func TestRelayEndWhileHeldOpen(t *testing.T) {
	rec := &recorder{}
	rl, err := NewRelay(rec, false, "reboot", NewLogger(io.Discard, false, nil))
	if err != nil {
		t.Fatal(err)
	}
	held, err := syscall.Dup(int(rl.W.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(held)
	rl.Start(9)
	rl.W.WriteString("partial")
	await(t, "the relay never read the partial line", func() bool {
		rl.mu.Lock()
		defer rl.mu.Unlock()
		return len(rl.pending) > 0
	})
	rl.End()
	await(t, "the partial line was never written", func() bool { return len(rec.all()) > 0 })
	if got := rec.all(); len(got) != 1 || got[0] != "reboot[9]: partial\n" {
		t.Errorf("records %q", got)
	}
	if wait(rl, 100*time.Millisecond) {
		t.Fatal("relay saw EOF while the pipe is still open")
	}
}

// await polls cond for 5 s.
func await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
	}
}

func wait(rl *Relay, d time.Duration) bool {
	select {
	case <-rl.done:
		return true
	case <-time.After(d):
		return false
	}
}
