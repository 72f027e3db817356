package kmsg

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Logger is init's own leveled log. Lines are queued and written by one
// goroutine, so a stuck console or kmsg never stalls the caller (pid 1's
// signal, reap and timer paths); when the queue is full a line is counted
// as dropped and the count is reported with the next line that fits.
//
// It writes kmsg records "<L>init: text", or, to a terminal or a file,
// lines "init: text" with mini-init-asm's level words: "init: WARN: ...",
// "init: DEBUG: ...".
type Logger struct {
	Verbose bool // log Debug lines too

	end     func()
	w       io.Writer
	kmsg    bool
	q       chan entry
	dropped atomic.Uint64
	once    sync.Once   // q and the writer goroutine come with the first line
	running atomic.Bool // it has
}

// entry is a formatted line, or a flush marker closed once written.
type entry struct {
	b       []byte
	flushed chan struct{}
}

// NewLogger makes a logger writing to w; kmsgStyle selects kmsg records;
// end ends the process after a panic (Guard). Its queue and its writer
// goroutine come with the first line (a supervisor that has nothing to
// say makes neither).
func NewLogger(w io.Writer, kmsgStyle bool, end func()) *Logger {
	return &Logger{w: w, kmsg: kmsgStyle, end: end}
}

// logf logs at a syslog level; Debug lines only when Verbose.
func (l *Logger) logf(level int, format string, args ...any) {
	if level >= lvDebug && !l.Verbose {
		return
	}
	msg := fmt.Sprintf(format, args...)
	n := l.dropped.Swap(0)
	if n > 0 {
		msg = fmt.Sprintf("%s (%d log lines dropped before this one)", msg, n)
	}
	l.once.Do(func() { l.q = make(chan entry, 1024); l.running.Store(true); go l.loop() })
	select {
	case l.q <- entry{b: l.format(level, msg)}:
	default:
		l.dropped.Add(n + 1)
	}
}

var words = [...]string{lvCrit: "CRIT: ", lvErr: "ERROR: ", lvWarning: "WARN: ", lvInfo: "", lvDebug: "DEBUG: "}

func (l *Logger) format(level int, msg string) []byte {
	if !l.kmsg {
		return []byte("init: " + words[level] + msg + "\n")
	}
	var b []byte
	for _, line := range strings.Split(msg, "\n") {
		b = appendRecords(b, level, "init", appendEscaped(nil, []byte(line)), maxRecord)
	}
	return b
}

// loop writes the queued lines. To an inherited descriptor (FD: the
// supervisor's stderr, maybe a pipe) it writes from a thread of its own
// that blocks SIGPIPE: a write to a gone reader fails with EPIPE and
// raises no signal, which init would otherwise take for one sent to it
// (and forward to its command). Kmsg and the console, which init opened,
// raise none, and need no thread of their own. A failed write counts as a
// dropped line.
func (l *Logger) loop() {
	defer l.Guard()
	if _, inherited := l.w.(FD); inherited { // the supervisor's fd 2, maybe a pipe
		runtime.LockOSThread()
		var pipe unix.Sigset_t
		pipe.Val[0] = 1 << (unix.SIGPIPE - 1)
		unix.PthreadSigmask(unix.SIG_BLOCK, &pipe, nil)
	}
	for e := range l.q {
		if e.flushed != nil {
			close(e.flushed)
			continue
		}
		if writeLines(l.w, e.b) {
			l.dropped.Add(1)
		}
	}
}

// FD writes to a file descriptor with write(2) alone: os.File raises
// SIGPIPE itself on EPIPE from fd 1 or 2 (os.File.Write's epipecheck).
type FD int

func (fd FD) Write(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Write(int(fd), b[n:])
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}

// Flush waits until the lines queued so far are written, at most d.
func (l *Logger) Flush(d time.Duration) {
	if !l.running.Load() {
		return // nothing was logged
	}
	t := time.NewTimer(d)
	defer t.Stop()
	done := make(chan struct{})
	select {
	case l.q <- entry{flushed: done}:
	case <-t.C:
		return
	}
	select {
	case <-done:
	case <-t.C:
	}
}

// One wrapper per level init uses.
func (l *Logger) Critf(f string, a ...any)  { l.logf(lvCrit, f, a...) }
func (l *Logger) Errf(f string, a ...any)   { l.logf(lvErr, f, a...) }
func (l *Logger) Warnf(f string, a ...any)  { l.logf(lvWarning, f, a...) }
func (l *Logger) Infof(f string, a ...any)  { l.logf(lvInfo, f, a...) }
func (l *Logger) Debugf(f string, a ...any) { l.logf(lvDebug, f, a...) }

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
