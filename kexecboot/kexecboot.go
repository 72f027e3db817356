// Package kexecboot loads the kernel at /kernel with kexec_file_load(2),
// or kexec_load(2) where the kernel has only that (Debian's arm64), so
// that reboot(2) with LINUX_REBOOT_CMD_KEXEC boots it in place of a cold
// reboot through firmware. The load comes before teardown: a bad kernel
// is refused while the node is still up.
package kexecboot

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stageinit/stageinit/config"
	"github.com/stageinit/stageinit/machine"
	"golang.org/x/sys/unix"
)

// Paths are the files Load reads, and where the keys that sign them are.
type Paths struct {
	Kernel, Initrd, Cmdline, ProcCmdline, Keys string
}

// MaxCmdline is the longest command line the kernel takes: x86's
// COMMAND_LINE_SIZE is 2048 bytes including the terminating NUL.
const maxCmdline = 2047

// Load loads p.Kernel with p.Initrd (if present) and the command line of
// p.Cmdline (if present) or the running kernel's, with panic=10 added when
// it sets no panic=: without it a new kernel that panics hangs for ever,
// with it the node reboots. The words of extra go among the kernel's
// words too. When p.Keys holds minisign keys, the kernel and, when
// present, the initrd and the command line must each be signed by one of
// them (FILE.minisig), and what is loaded is the bytes that were checked.
// It does not reboot; it returns lines for the log.
func Load(m machine.Machine, p Paths, extra ...string) (notes []string, err error) {
	v, err := newVerifier(p.Keys)
	if err != nil {
		return nil, err
	}
	kernel, err := v.open(p.Kernel)
	if err != nil {
		return nil, err
	}
	defer kernel.Close()
	if kernel, err = decompress(kernel); err != nil {
		return nil, err
	}
	defer kernel.Close()
	var initrd *os.File
	if _, err := os.Lstat(p.Initrd); err == nil {
		if initrd, err = v.open(p.Initrd); err != nil {
			return nil, err
		}
		defer initrd.Close()
	}
	cmdline, notes, err := newCmdline(p, v, extra...)
	if err != nil {
		return nil, err
	}
	if err = m.KexecFileLoad(kernel, initrd, cmdline); errno(err) != unix.ENOSYS {
		return notes, explain("kexec_file_load", p.Kernel, err, fileLoadMeanings)
	}
	if lerr := m.KexecLoad(kernel, initrd, cmdline); errno(lerr) != unix.ENOSYS {
		return notes, explain("kexec_load", p.Kernel, lerr, loadMeanings)
	}
	return notes, explain("kexec_file_load", p.Kernel, err, fileLoadMeanings)
}

// maxKernel bounds a decompressed kernel (arm64 Images are about 40 MB).
const maxKernel = 512 << 20

// decompress returns the kernel itself, or, when it is gzip-compressed or
// an EFI zboot image with a gzip payload (arm64's vmlinuz.efi: the header
// of the kernel's drivers/firmware/efi/libstub/zboot-header.S), its
// contents decompressed into a memfd: kexec_file_load(2) and kexec_load(2)
// take an uncompressed Image on arm64.
func decompress(f *os.File) (*os.File, error) {
	var head [32]byte
	n, _ := f.ReadAt(head[:], 0)
	var payload io.Reader
	switch {
	case n >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		payload = io.NewSectionReader(f, 0, 1<<62)
	case n == 32 && string(head[:2]) == "MZ" && string(head[4:8]) == "zimg":
		off, size := binary.LittleEndian.Uint32(head[8:]), binary.LittleEndian.Uint32(head[12:])
		if kind := string(bytes.TrimRight(head[24:], "\x00")); kind != "gzip" {
			return nil, fmt.Errorf("%s: EFI zboot image compressed with %q, only gzip is supported: %w",
				f.Name(), kind, unix.ENOEXEC)
		}
		payload = io.NewSectionReader(f, int64(off), int64(size))
	default:
		return f, nil
	}
	z, err := gzip.NewReader(payload)
	if err != nil {
		return nil, fmt.Errorf("%s: gzip: %v: %w", f.Name(), err, unix.ENOEXEC)
	}
	fd, err := unix.MemfdCreate("kernel", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create kernel: %w", err)
	}
	out := os.NewFile(uintptr(fd), f.Name()+" (decompressed)")
	if n, err := io.Copy(out, io.LimitReader(z, maxKernel+1)); err != nil || n > maxKernel {
		out.Close()
		return nil, fmt.Errorf("%s: decompress: %d bytes, %v: %w", f.Name(), n, err, unix.ENOEXEC)
	}
	return out, nil
}

// openFile opens path without blocking (open(2) of a FIFO would) and
// refuses anything but a regular file.
func openFile(path string) (*os.File, int64, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("open %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	var st unix.Stat_t
	switch err = unix.Fstat(fd, &st); {
	case err != nil:
		err = fmt.Errorf("fstat %s: %w", path, err)
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		err = fmt.Errorf("open %s: not a regular file: %w", path, unix.EINVAL)
	default:
		return f, st.Size, nil
	}
	f.Close()
	return nil, 0, err
}

// newCmdline reads the command line for the new kernel: p.Cmdline (with
// keys, verified) without its trailing newlines, or else the running
// kernel's p.ProcCmdline, with panic=10 and extra added when there is
// room. A NUL byte or a line longer than MaxCmdline is refused before the
// kernel sees it. It returns lines for the log.
func newCmdline(p Paths, v *verifier, extra ...string) (cmdline string, notes []string, err error) {
	src := p.Cmdline
	raw, err := readRegular(src, 64<<10)
	if errors.Is(err, os.ErrNotExist) {
		src = p.ProcCmdline
		raw, err = os.ReadFile(src)
	} else if err == nil && v != nil {
		err = v.check(src, raw)
	}
	if err != nil {
		return "", nil, fmt.Errorf("read %s: %w", src, err)
	}
	raw = bytes.TrimRight(raw, "\n")
	if i := bytes.IndexByte(raw, 0); i >= 0 {
		return "", nil, fmt.Errorf("%s: NUL byte at offset %d: %w", src, i, unix.EINVAL)
	}
	if len(raw) > maxCmdline {
		return "", nil, fmt.Errorf("%s: %d bytes, more than the kernel's %d: %w", src, len(raw), maxCmdline, unix.E2BIG)
	}
	cmdline, panicAdded := withPanic(string(raw), extra...)
	if len(cmdline) > maxCmdline {
		cmdline, panicAdded = string(raw), false // no room left for them
	}
	if panicAdded {
		notes = append(notes,
			"kexec: no panic= on the new command line: added panic=10, so that a new kernel that panics reboots")
	}
	if v == nil {
		return cmdline, append(notes, "kexec: updates are not verified: no minisign key in "+p.Keys), nil
	}
	return cmdline, append(notes, "kexec: verified with minisign key "+strings.Join(v.ids, " or ")+": "+
		p.Kernel+" and what came with it"), nil
}

// withPanic adds panic=10 to the kernel's own words of cmdline, those
// before a standalone "--" (the words after it are init's), unless one of
// them sets panic= (panic=0 included: the operator's choice), and the
// words of extra ("stageinit.gen=3"); a kernel word that sets a key of
// extra is dropped first. It reports whether it added panic=10.
func withPanic(cmdline string, extra ...string) (string, bool) {
	words, starts := config.Split(cmdline)
	at := len(cmdline)
	if i := slices.Index(words, "--"); i >= 0 {
		words, at = words[:i], starts[i]
	}
	head := cmdline[:at]
	for i := len(words) - 1; i >= 0; i-- { // from the end: the offsets before stay true
		for _, e := range extra {
			k, _, _ := strings.Cut(e, "=")
			if strings.HasPrefix(words[i], k+"=") && strings.HasPrefix(head[starts[i]:], words[i]) {
				head = head[:starts[i]] + head[starts[i]+len(words[i]):]
			}
		}
	}
	set := slices.ContainsFunc(words, func(w string) bool { return strings.HasPrefix(w, "panic=") })
	if !set {
		extra = append([]string{"panic=10"}, extra...)
	}
	if len(extra) == 0 {
		return cmdline, false
	}
	const blanks = " \t\n\v\f\r" // the kernel's isspace, as config.Split
	return strings.Trim(strings.TrimRight(head, blanks)+" "+strings.Join(extra, " ")+" "+cmdline[at:], blanks), !set
}

// explain names the syscall that failed and the meaning of its errno
// from its man page; nil stays nil.
func explain(syscall, kernel string, err error, meanings map[error]string) error {
	if err == nil {
		return nil
	}
	m := cmp.Or(meanings[errno(err)], "unexpected error")
	return fmt.Errorf("%s %s: %w (%s)", syscall, kernel, errno(err), m)
}

// fileLoadMeanings are kexec_file_load's errnos (kexec_file_load(2)).
var fileLoadMeanings = map[error]string{
	unix.ENOEXEC:      "not a bootable kernel image, or truncated",
	unix.EINVAL:       "bad command line or empty file",
	unix.EPERM:        "not permitted: kernel lockdown, missing CAP_SYS_BOOT or a user namespace",
	unix.EKEYREJECTED: "signature check failed",
	unix.ENOSYS:       "kernel built without CONFIG_KEXEC_FILE",
	unix.EBUSY:        "another kexec load is in progress",
	unix.ENOMEM:       "not enough memory to stage the kernel",
}

// loadMeanings are kexec_load's errnos (kexec_load(2)); ENOEXEC comes
// from u-root's parser of the arm64 Image header.
var loadMeanings = map[error]string{
	unix.ENOEXEC: "not a bootable arm64 Image, or truncated",
	unix.EINVAL:  "bad segments: the kernel or initrd does not fit the memory map",
	unix.EPERM:   "not permitted: kernel lockdown, kernel.kexec_load_disabled, missing CAP_SYS_BOOT or a user namespace",
	unix.EBUSY:   "another kexec load is in progress, or a crash kernel is loaded",
	unix.ENOMEM:  "not enough memory to stage the kernel",
}

func errno(err error) error {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return err
}

// Stamp says what the files of p are now (device, inode, size, change
// times; the keys included), to tell whether they changed since a load.
func Stamp(p Paths) string {
	keys, _ := filepath.Glob(filepath.Join(p.Keys, "*.pub"))
	var b strings.Builder
	for _, f := range append([]string{p.Kernel, p.Initrd, p.Cmdline, p.Kernel + ".minisig", p.Initrd + ".minisig",
		p.Cmdline + ".minisig"}, keys...) {
		var st unix.Stat_t
		if unix.Stat(f, &st) == nil {
			fmt.Fprintf(&b, "%s %d %d %d %d %d\n", f, st.Dev, st.Ino, st.Size, st.Mtim.Nano(), st.Ctim.Nano())
		}
	}
	return b.String()
}

// Failed renames the kernel to Kernel+".failed" so the next round does not
// try it again (the node stays up on the running kernel), and returns why
// as an error, with the rename's own failure if it failed.
func Failed(p Paths, why string) error {
	if err := os.Rename(p.Kernel, p.Kernel+".failed"); err != nil {
		return fmt.Errorf("%s; rename %s %s.failed: %w", why, p.Kernel, p.Kernel, err)
	}
	return errors.New(why)
}
