package kmsg

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// maxPending bounds the bytes of one unfinished line kept in memory; longer
// lines are written out in records as they arrive.
const maxPending = 64 << 10

// Relay copies a stage's stderr, a pipe it makes, to the kernel log, one
// record per line tagged "name[pid]". It runs in its own goroutine: a slow
// kmsg or console slows the stage that writes, never pid 1. Without a
// usable kmsg (kmsgStyle false) it writes plain "name[pid]: text" lines.
type Relay struct {
	W         *os.File // the pipe's write end: the stage's fd 2 (End closes init's copy)
	r         *os.File
	w         io.Writer
	kmsgStyle bool
	name      string
	log       *Logger // for Guard

	mu      sync.Mutex
	tag     string
	pending []byte
	esc     []byte // the line escaped, and
	out     []byte // its records: reused, no allocation per line
	level   int    // level of the line being assembled
	midLine bool   // part of the current line was already written
	started chan struct{}
	once    sync.Once
	done    chan struct{}
	dropped atomic.Uint64
}

// NewRelay makes the pipe and relays it to w once Start names the
// stage's pid.
func NewRelay(w io.Writer, kmsgStyle bool, name string, log *Logger) (*Relay, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	rl := &Relay{W: pw, r: pr, w: w, kmsgStyle: kmsgStyle, name: name, log: log,
		started: make(chan struct{}), done: make(chan struct{})}
	go rl.loop()
	return rl, nil
}

// Start tags the following lines with pid (the stage leader) and starts
// reading; it is called again with the new pid when a stage restarts.
func (rl *Relay) Start(pid int) {
	rl.mu.Lock()
	rl.tag = rl.name + "[" + strconv.Itoa(pid) + "]"
	rl.mu.Unlock()
	rl.once.Do(func() { close(rl.started) })
}

func (rl *Relay) loop() {
	defer rl.log.Guard()
	defer close(rl.done)
	<-rl.started
	buf := make([]byte, 64<<10)
	for err := error(nil); err == nil; {
		var n int
		if n, err = rl.r.Read(buf); errors.Is(err, os.ErrDeadlineExceeded) {
			rl.r.SetReadDeadline(time.Time{}) // End: what the pipe holds, then a last partial line
			raw, _ := rl.r.SyscallConn()
			raw.Read(func(fd uintptr) bool {
				for n, _ = unix.Read(int(fd), buf); n > 0; n, _ = unix.Read(int(fd), buf) {
					rl.mu.Lock()
					rl.feed(buf[:n])
					rl.mu.Unlock()
				}
				return true
			})
			n, err = 0, nil
			rl.mu.Lock()
			rl.flushLocked()
			rl.mu.Unlock()
		}
		rl.mu.Lock()
		rl.feed(buf[:n])
		if err != nil {
			rl.flushLocked()
		}
		rl.mu.Unlock()
	}
	rl.r.Close()
}

// feed appends data and writes every complete line.
func (rl *Relay) feed(data []byte) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			rl.pending = append(rl.pending, data...)
			if len(rl.pending) > maxPending {
				n := cut(rl.pending, maxPending)
				rl.emit(rl.pending[:n])
				rl.pending = append(rl.pending[:0], rl.pending[n:]...)
				rl.midLine = true
			}
			return
		}
		rl.pending = append(rl.pending, data[:i]...)
		rl.emit(rl.pending)
		rl.pending, rl.midLine = rl.pending[:0], false
		data = data[i+1:]
	}
}

// emit writes one line (or a piece of a long one) as records.
func (rl *Relay) emit(line []byte) {
	if !rl.midLine {
		rl.level, line = parseLevel(line, lvInfo)
	}
	rl.esc = appendEscaped(rl.esc[:0], line)
	if rl.kmsgStyle {
		rl.out = appendRecords(rl.out[:0], rl.level, rl.tag, rl.esc, maxRecord)
	} else {
		rl.out = append(append(append(rl.out[:0], rl.tag...), ": "...), rl.esc...)
		rl.out = append(rl.out, '\n')
	}
	if writeLines(rl.w, rl.out) {
		rl.dropped.Add(1)
	}
}

func (rl *Relay) flushLocked() {
	if len(rl.pending) > 0 {
		rl.emit(rl.pending)
		rl.pending, rl.midLine = rl.pending[:0], false
	}
}

// End closes init's end of the pipe and has the relay write what the
// pipe holds now and then a final line that has no newline yet (the stage
// exited), even while a grandchild holds the pipe open: a read deadline,
// so that init does not wait for the relay. The channel it returns is
// closed when the relay has read the pipe to its end, which such a
// grandchild delays for ever: wait for it with a deadline.
func (rl *Relay) End() <-chan struct{} {
	rl.W.Close()
	rl.once.Do(func() { close(rl.started) }) // no leader ever held the pipe
	rl.r.SetReadDeadline(time.Now())
	return rl.done
}

// Dropped returns and resets the number of lines the kernel refused.
func (rl *Relay) Dropped() uint64 { return rl.dropped.Swap(0) }
