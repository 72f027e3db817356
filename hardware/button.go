package hardware

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/stageinit/stageinit/kmsg"
	"golang.org/x/sys/unix"
)

// Input event codes (the kernel's include/uapi/linux/input-event-codes.h).
const (
	evKey    = 0x01
	keyA     = 30
	keyPower = 116
	// eventSize is struct input_event on 64-bit kernels (amd64 and arm64
	// alike): a 16-byte timeval, then type u16, code u16, value s32.
	eventSize = 24
	// evioGBitKey is EVIOCGBIT(EV_KEY, 96): the key capability bits, up to
	// KEY_MAX (0x2ff).
	evioGBitKey = 2<<30 | 96<<16 | 'E'<<8 | 0x21
)

// Buttons finds the power buttons among the evdev devices of dir/input
// (dir is /dev) and sends a device's path on presses for each press. A
// power button is a device whose key capabilities have KEY_POWER but not
// KEY_A: an ACPI "Power Button" or a gpio-keys power key, not a keyboard.
// The drivers of a distribution kernel are modules that /etc/boot loads,
// so devices that appear later are found: inotify(7) on dir (for input/,
// made with the first input device) and on dir/input makes Fd readable,
// and Look looks again; nothing is polled. Each power button has a
// goroutine that reads its presses.
type Buttons struct {
	dir, input string
	log        *kmsg.Logger
	presses    chan<- string
	fd         int  // inotify, nonblocking; -1 without it
	watching   bool // input is watched
	seen       map[string]bool
}

// NewButtons starts watching dir; a kernel without inotify gets a warning.
func NewButtons(dir string, log *kmsg.Logger, presses chan<- string) *Buttons {
	b := &Buttons{dir: dir, input: filepath.Join(dir, "input"), log: log, presses: presses, seen: map[string]bool{}}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err == nil {
		_, err = unix.InotifyAddWatch(fd, dir, unix.IN_CREATE)
	}
	if err != nil {
		log.Warnf("power button: inotify on %s: %v: the kernel has no inotify (CONFIG_INOTIFY_USER=y): "+
			"looking for power buttons every 2 s", dir, err)
		unix.Close(fd)
		fd = -1
	}
	b.fd = fd
	return b
}

// Fd is inotify's descriptor, to poll; -1 without inotify: then call Look
// every 2 s.
func (b *Buttons) Fd() int { return b.fd }

// Look reads the inotify events there are (their names do not matter),
// watches dir/input once it exists, opens the devices not seen yet and
// starts a reader for each power button; names that went away are
// forgotten.
func (b *Buttons) Look() {
	if b == nil { // the supervisor's
		return
	}
	if b.fd >= 0 {
		var buf [4096]byte
		for n, _ := unix.Read(b.fd, buf[:]); n > 0; n, _ = unix.Read(b.fd, buf[:]) {
		}
		if !b.watching {
			_, err := unix.InotifyAddWatch(b.fd, b.input, unix.IN_CREATE|unix.IN_DELETE)
			b.watching = err == nil
		}
	}
	entries, _ := os.ReadDir(b.input)
	present := map[string]bool{}
	for _, e := range entries {
		present[e.Name()] = true
		if !b.seen[e.Name()] && strings.HasPrefix(e.Name(), "event") {
			b.seen[e.Name()] = true
			b.open(e.Name())
		}
	}
	for name := range b.seen {
		if !present[name] {
			delete(b.seen, name)
		}
	}
}

// open opens an event device and, when it is a power button, starts its
// reader. The device is opened nonblocking and stays so (os.File.Fd would
// make it blocking): the reader waits in the Go runtime's poller, holding
// no thread.
func (b *Buttons) open(name string) {
	path := filepath.Join(b.input, name)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		b.log.Warnf("power button: open %s: %v", path, err)
		return
	}
	if !isPowerButton(fd) {
		unix.Close(fd)
		return
	}
	b.log.Infof("power button: %s (%s): a press is a poweroff request", path, deviceName(name))
	f := os.NewFile(uintptr(fd), path)
	go func() { defer b.log.Guard(); defer f.Close(); readPresses(f, path, b.log, b.presses) }()
}

// isPowerButton asks the device for its key capabilities (EVIOCGBIT).
func isPowerButton(fd int) bool {
	var bits [96]byte
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), evioGBitKey, uintptr(unsafe.Pointer(&bits[0]))); e != 0 {
		return false
	}
	has := func(key int) bool { return bits[key/8]&(1<<(key%8)) != 0 }
	return has(keyPower) && !has(keyA)
}

// deviceName is the driver's name of an event device, from sysfs.
func deviceName(event string) string {
	b, _ := os.ReadFile("/sys/class/input/" + event + "/device/name")
	return strings.TrimSpace(string(b))
}

// readPresses reads input events from r and sends path on presses for a
// press of KEY_POWER (value 1: not a release, 0, nor a repeat, 2), at most
// once a second, without waiting: a flood of presses is one request.
// Records may come in pieces. It returns at the first error, with one log
// line: ENODEV when the device went away.
func readPresses(r io.Reader, path string, log *kmsg.Logger, presses chan<- string) {
	buf := make([]byte, 64*eventSize)
	var last time.Time
	for have := 0; ; {
		n, err := r.Read(buf[have:])
		have += n
		i := 0
		for ; have-i >= eventSize; i += eventSize {
			if pressed(buf[i:i+eventSize]) && time.Since(last) >= time.Second {
				last = time.Now()
				select {
				case presses <- path:
				default:
				}
			}
		}
		have = copy(buf, buf[i:have])
		switch {
		case errors.Is(err, syscall.ENODEV):
			log.Infof("power button: %s went away", path)
			return
		case err != nil:
			log.Warnf("power button: read %s: %v: no longer watched", path, err)
			return
		}
	}
}

// pressed reports whether an input_event record is a press of KEY_POWER.
func pressed(rec []byte) bool {
	return binary.LittleEndian.Uint16(rec[16:]) == evKey && binary.LittleEndian.Uint16(rec[18:]) == keyPower &&
		int32(binary.LittleEndian.Uint32(rec[20:])) == 1
}
