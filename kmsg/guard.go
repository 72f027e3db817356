package kmsg

import (
	"runtime/debug"
	"time"
)

// Guard recovers a panic in the goroutine it is deferred in, logs it at
// crit with the stack, flushes and ends the process with the logger's end
// (init exits, or as pid 1, which must not exit, reboots). Use it as
// `defer log.Guard()` at the top of every goroutine.
func (l *Logger) Guard() {
	if v := recover(); v != nil {
		l.Critf("panic: %v\n%s", v, debug.Stack())
		l.Flush(2 * time.Second)
		l.end()
	}
}
