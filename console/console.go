// Package console sets up the standard streams of pid 1 and of its stages:
// stdin from /dev/null, stdout to /dev/console, stderr through the kmsg
// relay; without a console stdout joins the relay, without a usable
// /dev/kmsg the relay writes to the console.
package console

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/stageinit/stageinit/kmsg"
	"github.com/stageinit/stageinit/machine"
	"golang.org/x/sys/unix"
)

// Streams are the devices init opened; a nil field was not usable.
// Console is the stages' stdout; init's own lines go to the console, when
// they must, through a description of its own that never blocks (own:
// write(2) on a stopped console fails with EAGAIN, and the line counts as
// dropped).
type Streams struct {
	Console, Kmsg *os.File
	null          *os.File
	own           int
}

// Open opens dev/null, dev/console and dev/kmsg under dev. Opening never
// blocks: a FIFO or a stuck tty is opened O_NONBLOCK, then set blocking.
func Open(dev string) (*Streams, []string) {
	var warn []string
	var err error
	s := Streams{own: -1}
	if s.null, err = open(dev+"/null", unix.O_RDWR); err != nil {
		warn = append(warn, err.Error())
	}
	// O_APPEND: a console that is a file (a test's, a VMM's log) keeps
	// both descriptions' lines.
	if s.Console, err = open(dev+"/console", unix.O_WRONLY|unix.O_NOCTTY|unix.O_APPEND); err != nil {
		warn = append(warn, err.Error()+": stage stdout goes to the kmsg relay")
	} else {
		s.own, _ = unix.Open(dev+"/console", unix.O_WRONLY|unix.O_NOCTTY|unix.O_APPEND|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
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

// LogOutput is where init's own log goes: kmsg records, else console
// lines, which never wait for the console.
func (s *Streams) LogOutput() (io.Writer, bool) {
	switch {
	case s.Kmsg != nil:
		return s.Kmsg, true
	case s.own >= 0:
		return kmsg.FD(s.own), false
	}
	return io.Discard, false
}

// Say writes a line of init's own to the console, never waiting for it
// (a stopped console refuses it: the error says so).
func (s *Streams) Say(line string) error {
	if s.own < 0 {
		return fmt.Errorf("no console")
	}
	_, err := kmsg.FD(s.own).Write([]byte(line + "\n"))
	return err
}

// Adopt makes the streams init's own fds 0, 1 and 2 (dup3(2)). Init's fd 2
// is kmsg itself rather than a pipe, so a Go runtime crash report still
// reaches the kernel log after init is gone.
func (s *Streams) Adopt() []string {
	var warn []string
	two := s.Kmsg
	if two == nil {
		two = s.Console
	}
	for fd, f := range []*os.File{s.null, s.Console, two} {
		if f == nil {
			continue
		}
		if e := unix.Dup3(int(f.Fd()), fd, 0); e != nil {
			warn = append(warn, fmt.Sprintf("dup3 %s to fd %d: %v", f.Name(), fd, e))
		}
	}
	return warn
}

// Stage returns a stage's fds 0 /dev/null, 1 the console (or the relay),
// 2 the pipe of a relay to kmsg. Without a pipe there is no relay and the
// stage's stderr goes to the console, with an error.
func (s *Streams) Stage(name string, log *kmsg.Logger) ([3]uintptr, *kmsg.Relay, error) {
	null, out := ^uintptr(0), ^uintptr(0)
	if s.null != nil {
		null, out = s.null.Fd(), s.null.Fd()
	}
	if s.Console != nil {
		out = s.Console.Fd()
	}
	w, style := s.LogOutput()
	rl, err := kmsg.NewRelay(w, style, name, log)
	if err != nil {
		return [3]uintptr{null, out, out}, nil, err
	}
	if s.Console == nil {
		out = rl.W.Fd()
	}
	return [3]uintptr{null, out, rl.W.Fd()}, rl, nil
}

// Foreground reports whether fd is the caller's controlling terminal with
// the caller's process group in its foreground (ioctl TIOCGPGRP, which
// fails on any other fd, against getpgrp(2)): a container started with
// -t, or a supervisor started from an interactive shell.
func Foreground(fd int) bool {
	pgrp, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}

// Terminal opens the terminal behind dev/console, read for read and
// write, never as init's controlling terminal: the last name in
// sys/class/tty/console/active (the kernel's preferred console, as
// busybox's cttyhack finds it), and for tty0 the virtual terminal in
// the foreground (sys/class/tty/tty0/active).
func Terminal(sys, dev string) (*os.File, error) {
	name := "console"
	for _, f := range []string{"console", "tty0"} {
		if name != f {
			break
		}
		p := sys + "/class/tty/" + f + "/active"
		b, err := machine.ReadFile(p, 4096)
		words := strings.Fields(string(b))
		if err != nil || len(words) == 0 {
			return nil, fmt.Errorf("read %s: no terminal behind %s/console (%v)", p, dev, err)
		}
		name = filepath.Base(words[len(words)-1])
	}
	return open(dev+"/"+name, unix.O_RDWR|unix.O_NOCTTY)
}
