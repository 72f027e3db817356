package kmsg

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Logger is init's own leveled log. Lines are queued and written by one
// goroutine, so a stuck console or kmsg never stalls the caller (pid 1's
// signal, reap and timer paths); when the queue is full a line is counted
// as dropped and the count is reported with the next line that fits.
type Logger struct {
	Verbose bool // log Debug lines too

	mu      sync.Mutex
	w       io.Writer
	kmsg    bool // "<L>init: text" records instead of "init: text" lines
	q       chan []byte
	dropped atomic.Uint64
	idle    sync.WaitGroup
}

// NewLogger starts a logger writing to w; kmsgStyle selects kmsg records.
func NewLogger(w io.Writer, kmsgStyle bool) *Logger {
	l := &Logger{w: w, kmsg: kmsgStyle, q: make(chan []byte, 1024)}
	go l.loop()
	return l
}

// SetOutput switches the destination, e.g. to /dev/kmsg once /dev is mounted.
func (l *Logger) SetOutput(w io.Writer, kmsgStyle bool) {
	l.mu.Lock()
	l.w, l.kmsg = w, kmsgStyle
	l.mu.Unlock()
}

// Logf logs at a syslog level; Debug lines only when Verbose.
func (l *Logger) Logf(level int, format string, args ...any) {
	if level >= Debug && !l.Verbose {
		return
	}
	msg := fmt.Sprintf(format, args...)
	n := l.dropped.Swap(0)
	if n > 0 {
		msg = fmt.Sprintf("%s (%d log lines dropped before this one)", msg, n)
	}
	l.idle.Add(1)
	select {
	case l.q <- l.format(level, msg):
	default:
		l.idle.Done()
		l.dropped.Add(n + 1)
	}
}

func (l *Logger) format(level int, msg string) []byte {
	l.mu.Lock()
	kmsgStyle := l.kmsg
	l.mu.Unlock()
	if !kmsgStyle {
		return []byte("init: " + msg + "\n")
	}
	var b []byte
	for _, line := range strings.Split(msg, "\n") {
		for _, r := range Records(level, "init", []byte(line), MaxRecord) {
			b = append(b, r...)
		}
	}
	return b
}

func (l *Logger) loop() {
	defer Guard()
	for b := range l.q {
		l.mu.Lock()
		w, kmsgStyle := l.w, l.kmsg
		l.mu.Unlock()
		if kmsgStyle {
			writeRecords(w, b)
		} else {
			w.Write(b)
		}
		l.idle.Done()
	}
}

// writeRecords writes newline-terminated records one write(2) each.
func writeRecords(w io.Writer, b []byte) {
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		if i < len(b) {
			i++
		}
		w.Write(b[:i])
		b = b[i:]
	}
}

// Flush waits until queued lines are written, at most d.
func (l *Logger) Flush(d time.Duration) {
	done := make(chan struct{})
	go func() { l.idle.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// Convenience wrappers, one per level used by init (SPEC section 3).
func (l *Logger) Critf(f string, a ...any) { l.Logf(Crit, f, a...) }
func (l *Logger) Errf(f string, a ...any)  { l.Logf(Err, f, a...) }
func (l *Logger) Warnf(f string, a ...any) { l.Logf(Warning, f, a...) }
func (l *Logger) Infof(f string, a ...any) { l.Logf(Info, f, a...) }
func (l *Logger) Debugf(f string, a ...any) {
	if l.Verbose {
		l.Logf(Debug, f, a...)
	}
}
