package kmsg

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLoggerOutputs: kmsg records one write each, or text lines with
// mini-init-asm's level words; debug only when verbose.
func TestLoggerOutputs(t *testing.T) {
	rec := &recorder{}
	l := NewLogger(rec, true, nil)
	l.Infof("starting %d", 1)
	l.Debugf("not shown")
	l.Errf("two\nlines")
	l.Flush(5 * time.Second)
	want := []string{"<6>init: starting 1\n", "<3>init: two\n", "<3>init: lines\n"}
	if got := rec.all(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("kmsg records %q, want %q", got, want)
	}
	var text syncBuffer
	l = NewLogger(&text, false, nil)
	l.Verbose = true
	l.Warnf("w")
	l.Debugf("signal=%d: received", 15)
	l.Infof("i")
	l.Flush(5 * time.Second)
	if got, want := text.String(), "init: WARN: w\ninit: DEBUG: signal=15: received\ninit: i\n"; got != want {
		t.Errorf("text %q, want %q", got, want)
	}
}

// TestLoggerQueueFull: a stuck writer never blocks the caller; lines that
// do not fit are counted and the count comes with the next line.
func TestLoggerQueueFull(t *testing.T) {
	w := &stuck{entered: make(chan struct{}, 1), release: make(chan struct{})}
	l := NewLogger(w, false, nil)
	l.Infof("first") // taken by the writer goroutine, which then hangs
	<-w.entered
	done := make(chan struct{})
	go func() {
		for i := 0; i < 2000; i++ {
			l.Infof("line %d", i)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("logf blocked on a stuck writer")
	}
	close(w.release)
	l.Flush(5 * time.Second)
	l.Infof("after")
	l.Flush(5 * time.Second)
	out := w.String()
	if n := strings.Count(out, "init: line "); n != 1024 {
		t.Errorf("%d lines written, want the queue's 1024", n)
	}
	if !strings.HasSuffix(out, "init: after (976 log lines dropped before this one)\n") {
		t.Errorf("last line %q lacks the drop count", out[strings.LastIndex(out[:len(out)-1], "\n")+1:])
	}
}

// TestLoggerFlushDeadline: Flush returns after its deadline when the
// writer is stuck.
func TestLoggerFlushDeadline(t *testing.T) {
	w := &stuck{entered: make(chan struct{}, 1), release: make(chan struct{})}
	defer close(w.release)
	l := NewLogger(w, false, nil)
	l.Infof("x")
	<-w.entered
	begin := time.Now()
	l.Flush(100 * time.Millisecond)
	if el := time.Since(begin); el > 5*time.Second {
		t.Errorf("Flush took %v", el)
	}
}

type stuck struct {
	syncBuffer
	entered chan struct{}
	release chan struct{}
}

func (s *stuck) Write(b []byte) (int, error) {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-s.release
	return s.syncBuffer.Write(b)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(b)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
