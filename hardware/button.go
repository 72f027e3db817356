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

// WatchButtons finds power buttons among the evdev devices of dir/input
// (dir is /dev) and sends a device's path on presses for each press. A
// power button is a device whose key capabilities have KEY_POWER but not
// KEY_A: an ACPI "Power Button" or a gpio-keys power key, not a keyboard.
// The drivers of a distribution kernel are modules that /etc/boot loads,
// so devices that appear later are found: inotify(7) on dir (for input/,
// made with the first input device) and on dir/input wakes it, and it
// looks again; nothing is polled. It runs for the life of the process.
func WatchButtons(dir string, log *kmsg.Logger, presses chan<- string) {
	defer log.Guard()
	input, seen := filepath.Join(dir, "input"), map[string]bool{}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err == nil {
		_, err = unix.InotifyAddWatch(fd, dir, unix.IN_CREATE)
	}
	if err != nil { // a kernel without CONFIG_INOTIFY_USER
		log.Warnf("power button: inotify on %s: %v: looking for power buttons every 2 s", dir, err)
		for ; ; time.Sleep(2 * time.Second) {
			look(input, seen, log, presses)
		}
	}
	buf := make([]byte, 4096)
	for watching := false; ; {
		if !watching {
			_, err := unix.InotifyAddWatch(fd, input, unix.IN_CREATE|unix.IN_DELETE)
			watching = err == nil
		}
		look(input, seen, log, presses)
		if _, err := unix.Read(fd, buf); err != nil && err != unix.EINTR {
			log.Warnf("power button: read inotify: %v: devices that appear from now on are not watched", err)
			return
		}
	}
}

// look opens the devices of input not seen yet and starts a reader for
// each power button; names that went away are forgotten.
func look(input string, seen map[string]bool, log *kmsg.Logger, presses chan<- string) {
	entries, _ := os.ReadDir(input)
	present := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		present[name] = true
		if seen[name] || !strings.HasPrefix(name, "event") {
			continue
		}
		seen[name] = true
		path := filepath.Join(input, name)
		f, err := os.Open(path)
		if err != nil {
			log.Warnf("power button: open %s: %v", path, err)
			continue
		}
		if !isPowerButton(f) {
			f.Close()
			continue
		}
		log.Infof("power button: %s (%s): a press is a poweroff request", path, deviceName(name))
		go func() { defer log.Guard(); defer f.Close(); readPresses(f, path, log, presses) }()
	}
	for name := range seen {
		if !present[name] {
			delete(seen, name)
		}
	}
}

// isPowerButton asks the device for its key capabilities (EVIOCGBIT).
func isPowerButton(f *os.File) bool {
	var bits [96]byte
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), evioGBitKey, uintptr(unsafe.Pointer(&bits[0]))); e != 0 {
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
