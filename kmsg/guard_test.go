package kmsg

import (
	"strings"
	"testing"
)

type ender chan struct{}

func (e ender) End() { close(e) }

func TestGuard(t *testing.T) {
	var out syncBuffer
	end := make(ender)
	log := NewLogger(&out, false, end)
	go func() {
		defer log.Guard()
		panic("boom")
	}()
	<-end
	if s := out.String(); !strings.Contains(s, "CRIT: panic: boom") || !strings.Contains(s, "TestGuard") {
		t.Errorf("log lacks the panic and the panicking goroutine's stack:\n%s", s)
	}
}
