package kmsg

import "runtime/debug"

// Crash is called with the panic value and stack of any of init's
// goroutines that panicked (cmd/init logs it at crit and, as pid 1, turns
// it into a cold reboot). Nil means re-panic.
var Crash func(v any, stack []byte)

// Guard recovers a panic in the goroutine it is deferred in and hands it to
// Crash. Use it as `defer kmsg.Guard()` at the top of every goroutine.
func Guard() {
	if v := recover(); v != nil {
		if Crash == nil {
			panic(v)
		}
		Crash(v, debug.Stack())
	}
}
