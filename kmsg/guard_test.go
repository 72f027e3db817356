package kmsg

import (
	"strings"
	"testing"
)

func TestGuard(t *testing.T) {
	var out syncBuffer
	end := make(chan struct{})
	log := NewLogger(&out, false, func() { close(end) })
	go func() {
		defer log.Guard()
		panic("boom")
	}()
	<-end
	if s := out.String(); !strings.Contains(s, "CRIT: panic: boom") || !strings.Contains(s, "TestGuard") {
		t.Errorf("log lacks the panic and the panicking goroutine's stack:\n%s", s)
	}
}
