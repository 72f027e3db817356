// Package console sets up the standard streams of pid 1 and of its stages:
// stdin from /dev/null, stdout to /dev/console, stderr through the kmsg
// relay; without a console stdout joins the relay, without a usable
// /dev/kmsg the relay writes to the console.
package console

import (
	"fmt"
	"io"
	"os"

	"github.com/stageinit/stageinit/kmsg"
	"golang.org/x/sys/unix"
)

// Streams are the devices init opened; a nil field was not usable.
type Streams struct {
	Null, Console, Kmsg *os.File
}

// Open opens dev/null, dev/console and dev/kmsg under dev. Opening never
// blocks: a FIFO or a stuck tty is opened O_NONBLOCK, then set blocking.
func Open(dev string) (*Streams, []string) {
	var s Streams
	var warn []string
	var err error
	if s.Null, err = open(dev+"/null", unix.O_RDWR); err != nil {
		warn = append(warn, err.Error())
	}
	if s.Console, err = open(dev+"/console", unix.O_WRONLY|unix.O_NOCTTY); err != nil {
		warn = append(warn, err.Error()+": stage stdout goes to the kmsg relay")
	}
	if s.Kmsg, err = open(dev+"/kmsg", unix.O_WRONLY|unix.O_APPEND); err != nil {
		warn = append(warn, err.Error()+": the relay writes to the console")
	}
	return &s, warn
}

func open(path string, flags int) (*os.File, error) {
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	unix.SetNonblock(fd, false)
	return os.NewFile(uintptr(fd), path), nil
}

// LogOutput is where init's own log goes: kmsg records, else console lines.
func (s *Streams) LogOutput() (io.Writer, bool) {
	switch {
	case s.Kmsg != nil:
		return s.Kmsg, true
	case s.Console != nil:
		return s.Console, false
	}
	return io.Discard, false
}

// Adopt makes the streams init's own fds 0, 1 and 2 (dup3(2)). Init's fd 2
// is kmsg itself rather than a pipe, so a Go runtime crash report still
// reaches the kernel log after init is gone.
func (s *Streams) Adopt() []string {
	var warn []string
	w, _ := s.LogOutput()
	err := s.Console
	if f, ok := w.(*os.File); ok {
		err = f
	}
	for fd, f := range []*os.File{s.Null, s.Console, err} {
		if f == nil {
			continue
		}
		if e := unix.Dup3(int(f.Fd()), fd, 0); e != nil {
			warn = append(warn, fmt.Sprintf("dup3 %s to fd %d: %v", f.Name(), fd, e))
		}
	}
	return warn
}

// Output is a stage's standard streams: Files are its fds 0 /dev/null, 1
// the console (or the relay), 2 a pipe relayed line by line to kmsg.
type Output struct {
	Files   [3]uintptr
	relay   *kmsg.Relay // nil: no pipe, fd 2 is the console
	pw      *os.File    // init's end of the pipe
	started bool        // a leader started: the relay reads
}

// Stage makes a stage's Output; without a pipe the stage's stderr goes to
// the console, with an error.
func (s *Streams) Stage(name string, log *kmsg.Logger) (*Output, error) {
	null, out := ^uintptr(0), ^uintptr(0)
	if s.Null != nil {
		null, out = s.Null.Fd(), s.Null.Fd()
	}
	if s.Console != nil {
		out = s.Console.Fd()
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return &Output{Files: [3]uintptr{null, out, out}}, fmt.Errorf("pipe: %w", err)
	}
	if s.Console == nil {
		out = pw.Fd()
	}
	w, style := s.LogOutput()
	return &Output{Files: [3]uintptr{null, out, pw.Fd()}, relay: kmsg.NewRelay(pr, w, style, name, log), pw: pw}, nil
}

// Start tags the relayed lines with the leader's pid (again after a
// restart).
func (o *Output) Start(pid int) {
	if o.relay != nil {
		o.relay.Start(pid)
		o.started = true
	}
}

// End closes init's end of the pipe and flushes a final partial line. The
// channel it returns is closed when the relay has read the pipe to its
// end, which a grandchild holding it open delays for ever: wait for it
// with a deadline.
func (o *Output) End() <-chan struct{} {
	if o.relay == nil {
		done := make(chan struct{})
		close(done)
		return done
	}
	o.pw.Close()
	if !o.started { // no stage ever held the pipe: the relay reads its end of file
		o.relay.Start(0)
	}
	o.relay.Flush()
	return o.relay.Done()
}

// Dropped returns and resets the number of lines the kernel refused.
func (o *Output) Dropped() uint64 {
	if o.relay == nil {
		return 0
	}
	return o.relay.Dropped()
}
