package kmsg

import (
	"strings"
	"testing"
)

func TestGuard(t *testing.T) {
	got := make(chan string, 1)
	Crash = func(v any, stack []byte) {
		if !strings.Contains(string(stack), "TestGuard") {
			t.Errorf("stack lacks the panicking goroutine:\n%s", stack)
		}
		got <- v.(string)
	}
	defer func() { Crash = nil }()
	go func() {
		defer Guard()
		panic("boom")
	}()
	if v := <-got; v != "boom" {
		t.Errorf("Crash got %q", v)
	}
}
