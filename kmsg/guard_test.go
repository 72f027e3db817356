package kmsg

import (
	"strings"
	"sync"
	"testing"
)

type ender chan struct{}

func (e ender) End() { close(e) }

type buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func TestGuard(t *testing.T) {
	var out buffer
	end := make(ender)
	log := NewLogger(&out, false, end)
	go func() {
		defer log.Guard()
		panic("boom")
	}()
	<-end
	out.mu.Lock()
	defer out.mu.Unlock()
	if s := out.b.String(); !strings.Contains(s, "CRIT: panic: boom") || !strings.Contains(s, "TestGuard") {
		t.Errorf("log lacks the panic and the panicking goroutine's stack:\n%s", s)
	}
}
