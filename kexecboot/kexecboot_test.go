package kexecboot

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stageinit/stageinit/machine/machinetest"
	"golang.org/x/sys/unix"
)

// fake is a machine whose kexec_file_load and kexec_load return ret.
func fake(ret error) *machinetest.Fake {
	return &machinetest.Fake{Fail: map[string]error{"kexec": ret}}
}

func layout(t *testing.T, files map[string]string) Paths {
	dir := t.TempDir()
	p := Paths{dir + "/kernel", dir + "/kernel.initrd", dir + "/kernel.cmdline", dir + "/proc_cmdline", dir + "/etc/stageinit"}
	for name, body := range files {
		os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644)
	}
	return p
}

func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   map[string]string
		initrd  bool
		cmdline string
		err     string
	}{
		{"kernel only, running cmdline", map[string]string{"kernel": "K", "proc_cmdline": "console=ttyS0 quiet\n"}, false, "console=ttyS0 quiet panic=10", ""},
		{"with initrd and cmdline", map[string]string{"kernel": "K", "kernel.initrd": "I", "kernel.cmdline": "root=x marker\n", "proc_cmdline": "old\n"}, true, "root=x marker panic=10", ""},
		{"cmdline file empty", map[string]string{"kernel": "K", "kernel.cmdline": "", "proc_cmdline": "old"}, false, "panic=10", ""},
		{"cmdline two newlines", map[string]string{"kernel": "K", "kernel.cmdline": "a b\n\n"}, false, "a b panic=10", ""},
		{"panic=0 kept", map[string]string{"kernel": "K", "kernel.cmdline": "a panic=0 b"}, false, "a panic=0 b", ""},
		{"cmdline 2047", map[string]string{"kernel": "K", "kernel.cmdline": strings.Repeat("a", 2047)}, false, strings.Repeat("a", 2047), ""},
		{"cmdline 2048", map[string]string{"kernel": "K", "kernel.cmdline": strings.Repeat("a", 2048)}, false, "", "more than the kernel's 2047"},
		{"cmdline 4096", map[string]string{"kernel": "K", "kernel.cmdline": strings.Repeat("a", 4096)}, false, "", "4096 bytes"},
		{"cmdline NUL", map[string]string{"kernel": "K", "kernel.cmdline": "a\x00b"}, false, "", "NUL byte at offset 1"},
		{"no cmdline at all", map[string]string{"kernel": "K"}, false, "", "read "},
		{"empty kernel", map[string]string{"kernel": "", "proc_cmdline": "x"}, false, "", "empty file"},
		{"missing kernel", map[string]string{"proc_cmdline": "x"}, false, "", "no such file"},
		{"empty initrd", map[string]string{"kernel": "K", "kernel.initrd": "", "proc_cmdline": "x"}, false, "", "kernel.initrd: empty file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := fake(nil)
			p := layout(t, tc.files)
			_, err := Load(m, p)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				if calls := m.Calls(); len(calls) != 0 {
					t.Errorf("kexec_file_load called despite the error: %v", calls)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			initrd := "none"
			if tc.initrd {
				initrd = p.Initrd
			}
			want := fmt.Sprintf("kexec %s %s %q", p.Kernel, initrd, tc.cmdline)
			if calls := m.Calls(); len(calls) != 1 || calls[0] != want {
				t.Errorf("calls %q, want [%s]", calls, want)
			}
		})
	}
}

// TestLoadNonBlocking: a FIFO or a directory at /kernel is refused at once.
func TestLoadNonBlocking(t *testing.T) {
	m := fake(nil)
	p := layout(t, map[string]string{"proc_cmdline": "x"})
	if err := unix.Mkfifo(p.Kernel, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(m, p); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("FIFO: %v", err)
	}
	os.Remove(p.Kernel)
	os.Mkdir(p.Kernel, 0o755)
	if _, err := Load(m, p); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
	if calls := m.Calls(); len(calls) != 0 {
		t.Errorf("kexec_file_load called: %v", calls)
	}
}

func TestErrorClassification(t *testing.T) {
	for _, tc := range []struct {
		errno syscall.Errno
		want  string
	}{
		{unix.ENOEXEC, "not a bootable kernel image, or truncated"},
		{unix.EINVAL, "bad command line or empty file"},
		{unix.EPERM, "lockdown"},
		{unix.EKEYREJECTED, "signature"},
		{unix.ENOSYS, "CONFIG_KEXEC_FILE"},
		{unix.EBUSY, "in progress"},
	} {
		m := fake(fmt.Errorf("SYS_kexec_file_load(3, 0, x, 4) = %w", tc.errno))
		p := layout(t, map[string]string{"kernel": "K", "proc_cmdline": "x"})
		_, err := Load(m, p)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, tc.errno) ||
			!strings.HasPrefix(err.Error(), "kexec_file_load "+p.Kernel+": "+tc.errno.Error()) {
			t.Errorf("%v: error %v, want errno and %q", tc.errno, err, tc.want)
		}
	}
}

func TestFailed(t *testing.T) {
	p := layout(t, map[string]string{"kernel": "K"})
	if err := Failed(p, "why"); err == nil || err.Error() != "why" {
		t.Fatalf("error %v, want why", err)
	}
	if _, err := os.Stat(p.Kernel + ".failed"); err != nil {
		t.Errorf("no .failed: %v", err)
	}
	if _, err := os.Stat(p.Kernel); !os.IsNotExist(err) {
		t.Errorf("kernel still there")
	}
	if err := Failed(p, "again"); err == nil || !strings.HasPrefix(err.Error(), "again; rename "+p.Kernel) {
		t.Errorf("a rename that fails: %v", err)
	}
}

// TestWithPanic: panic=10 joins the kernel's words, before any "--".
func TestWithPanic(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		added    bool
	}{
		{"console=ttyS0", "console=ttyS0 panic=10", true},
		{"", "panic=10", true},
		{"console=ttyS0 panic=-1", "console=ttyS0 panic=-1", false},
		{"panic=0 quiet", "panic=0 quiet", false},
		{"console=ttyS0 -- /bin/app panic=5", "console=ttyS0 panic=10 -- /bin/app panic=5", true},
		{"-- /bin/app", "panic=10 -- /bin/app", true},
		{`env.MSG="a -- b" quiet`, `env.MSG="a -- b" quiet panic=10`, true},
		{"a --x b", "a --x b panic=10", true},
		{"a b --", "a b panic=10 --", true},
	} {
		got, added := withPanic(tc.in)
		if got != tc.want || added != tc.added {
			t.Errorf("withPanic(%q) = %q, %v; want %q, %v", tc.in, got, added, tc.want, tc.added)
		}
	}
}

// zboot wraps payload the way an EFI zboot image does: "MZ", "zimg",
// payload offset and size, compression name, then the payload.
func zboot(kind string, payload []byte) []byte {
	h := make([]byte, 64)
	copy(h, "MZ\x00\x00zimg")
	binary.LittleEndian.PutUint32(h[8:], 64)
	binary.LittleEndian.PutUint32(h[12:], uint32(len(payload)))
	copy(h[24:], kind)
	return append(h, payload...)
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// TestDecompress: a gzip-compressed kernel and an EFI zboot image with a
// gzip payload come back decompressed (in a memfd); anything else comes
// back as it is; other zboot compressions and broken data are refused.
func TestDecompress(t *testing.T) {
	image := bytes.Repeat([]byte("ARM\x64 an arm64 Image "), 10000)
	for _, tc := range []struct {
		name string
		file []byte
		want []byte
		err  string
	}{
		{"plain", image, image, ""},
		{"gzip", gz(image), image, ""},
		{"zboot gzip", zboot("gzip", gz(image)), image, ""},
		{"zboot zstd", zboot("zstd", image), nil, `compressed with "zstd", only gzip`},
		{"broken gzip", []byte{0x1f, 0x8b, 8, 0, 1, 2, 3}, nil, "gzip"},
		{"short", []byte("MZ"), []byte("MZ"), ""},
	} {
		p := filepath.Join(t.TempDir(), "kernel")
		os.WriteFile(p, tc.file, 0o644)
		f, _ := os.Open(p)
		out, err := decompress(f)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, unix.ENOEXEC) {
				t.Errorf("%s: error %v, want %q and ENOEXEC", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := make([]byte, len(tc.want)+1)
		n, _ := out.ReadAt(got, 0)
		if !bytes.Equal(got[:n], tc.want) {
			t.Errorf("%s: %d bytes back, want %d", tc.name, n, len(tc.want))
		}
		if (out == f) != bytes.Equal(tc.file, tc.want) {
			t.Errorf("%s: decompressed into a new file: %v", tc.name, out != f)
		}
	}
}

// TestLoadCompressed: Load hands the kernel a decompressed copy.
func TestLoadCompressed(t *testing.T) {
	m := fake(nil)
	p := layout(t, map[string]string{"kernel": string(gz([]byte("IMAGE"))), "proc_cmdline": "x"})
	if _, err := Load(m, p); err != nil {
		t.Fatal(err)
	}
	if calls := m.Calls(); len(calls) != 1 || !strings.Contains(calls[0], p.Kernel+" (decompressed)") {
		t.Errorf("calls %q", calls)
	}
}

// TestWithPanicExtra: init's words for the next generation replace
// earlier ones of the same key among the kernel's words, never init's.
func TestWithPanicExtra(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"console=ttyS0", "console=ttyS0 panic=10 stageinit.gen=2 stageinit.prev=reboot:SIGTERM"},
		{"a stageinit.gen=1 panic=5 b -- stageinit.gen=7", "a  panic=5 b stageinit.gen=2 stageinit.prev=reboot:SIGTERM -- stageinit.gen=7"},
		{`stageinit.gen="9" x`, `stageinit.gen="9" x panic=10 stageinit.gen=2 stageinit.prev=reboot:SIGTERM`},
	} {
		if got, _ := withPanic(tc.in, "stageinit.gen=2", "stageinit.prev=reboot:SIGTERM"); got != tc.want {
			t.Errorf("withPanic(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestLoadFallback: where kexec_file_load is ENOSYS (Debian's arm64
// kernels), kexec_load is tried, and its failure is named and explained as
// kexec_load's; where neither exists, the error is kexec_file_load's.
func TestLoadFallback(t *testing.T) {
	p := layout(t, map[string]string{"kernel": "K", "proc_cmdline": "x"})
	m := &machinetest.Fake{Fail: map[string]error{"kexec ": unix.ENOSYS, "kexec_load": unix.EPERM}}
	_, err := Load(m, p)
	if err == nil || !strings.HasPrefix(err.Error(), "kexec_load "+p.Kernel+": operation not permitted (") ||
		!strings.Contains(err.Error(), "kexec_load_disabled") || !errors.Is(err, unix.EPERM) {
		t.Errorf("kexec_load failure reported as %v", err)
	}
	if calls := m.Calls(); len(calls) != 2 || !strings.HasPrefix(calls[1], "kexec_load ") {
		t.Errorf("calls %q, want kexec_file_load then kexec_load", calls)
	}
	m = &machinetest.Fake{Fail: map[string]error{"kexec ": unix.ENOSYS}}
	if _, err := Load(m, p); err != nil {
		t.Errorf("kexec_load that worked: %v", err)
	}
	m = &machinetest.Fake{Fail: map[string]error{"kexec": unix.ENOSYS}}
	if _, err := Load(m, p); err == nil || !strings.Contains(err.Error(), "kexec_file_load "+p.Kernel) || !strings.Contains(err.Error(), "CONFIG_KEXEC_FILE") {
		t.Errorf("no loader at all reported as %v", err)
	}
}
