package machine

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Init's setup makes its system calls raw (syscall.RawSyscall): they do
// not tell the Go scheduler, so its monitor thread does not hand the
// processor to another thread for each one. Under TCG a system call takes
// longer than the monitor's 20 µs tick, and that hand-off (a thread woken,
// spinning, put back to sleep) cost a boot more than the calls themselves
// (README "Design notes"). Only calls that return at once: files of /proc,
// /sys, cgroupfs, devtmpfs and the initramfs, and mount(2) of those.

var atFDCWD = uintptr(unix.AT_FDCWD & (1<<64 - 1)) // -100 as a register holds it

func rawOpen(path string, flags int, mode uint32) (int, error) {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return -1, err
	}
	for {
		fd, _, e := syscall.RawSyscall6(unix.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(p)),
			uintptr(flags|unix.O_CLOEXEC), uintptr(mode), 0, 0)
		if e != unix.EINTR {
			return int(fd), errno(e)
		}
	}
}

func rawRW(nr uintptr, fd int, b []byte) (int, error) {
	for {
		n, _, e := syscall.RawSyscall(nr, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		if e != unix.EINTR {
			return int(n), errno(e)
		}
	}
}

func rawClose(fd int) error {
	_, _, e := syscall.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
	return errno(e)
}

func errno(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// Lstat is lstat(2) of path, raw (see above).
func Lstat(path string, st *unix.Stat_t) error {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	_, _, e := syscall.RawSyscall6(unix.SYS_NEWFSTATAT, atFDCWD, uintptr(unsafe.Pointer(p)),
		uintptr(unsafe.Pointer(st)), unix.AT_SYMLINK_NOFOLLOW, 0, 0)
	return errno(e)
}

func rawMount(source, target, fstype string, flags uintptr, data string) error {
	var p [4]*byte
	for i, s := range []string{source, target, fstype, data} {
		var err error
		if p[i], err = unix.BytePtrFromString(s); err != nil {
			return err
		}
	}
	_, _, e := syscall.RawSyscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(p[0])), uintptr(unsafe.Pointer(p[1])),
		uintptr(unsafe.Pointer(p[2])), flags, uintptr(unsafe.Pointer(p[3])), 0)
	return errno(e)
}

// ReplaceFile replaces path atomically with a file holding data: written
// to path+".tmp", then rename(2)d, raw (see above).
func ReplaceFile(path, data string) error {
	tmp := path + ".tmp"
	if err := writeFile(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, data); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// writeFile is open(2) with flags, write(2) and close(2), raw.
func writeFile(path string, flags int, data string) error {
	fd, err := rawOpen(path, flags, 0o644)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	_, err = rawRW(unix.SYS_WRITE, fd, []byte(data))
	if cerr := rawClose(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return &os.PathError{Op: "write", Path: path, Err: err}
	}
	return nil
}
