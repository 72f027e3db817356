package initramfs

import (
	"bytes"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/u-root/u-root/pkg/cpio"
)

var (
	staticOnce sync.Once
	staticBin  string
)

// staticELF builds a tiny static Go program, a stand-in for build/init.
func staticELF(t *testing.T) string {
	t.Helper()
	staticOnce.Do(func() {
		dir, err := os.MkdirTemp("", "initramfs-test")
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\nfunc main() {}\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module x\n"), 0o644)
		cmd := exec.Command("go", "build", "-o", "init", ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOARCH=amd64")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v %s", err, out)
		}
		staticBin = filepath.Join(dir, "init")
	})
	return staticBin
}

func write(t *testing.T, p, body string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, mode)
	return p
}

// fixture is a node with stages, an extra file and an overlay.
func fixture(t *testing.T) (*Builder, *[]string) {
	dir := t.TempDir()
	ov := filepath.Join(dir, "overlay")
	write(t, ov+"/bin/busybox", "not really busybox", 0o755)
	os.Symlink("busybox", ov+"/bin/sh")
	write(t, ov+"/etc/motd", "hello\n", 0o600)
	os.MkdirAll(ov+"/var/empty", 0o711)
	os.Chmod(ov+"/var/empty", 0o711)
	warns := &[]string{}
	return &Builder{
		Init:    staticELF(t),
		Machine: elf.EM_X86_64,
		MTime:   1700000000,
		Overlay: ov,
		Files: map[string]string{
			"/etc/boot":         write(t, dir+"/boot", "#!/bin/sh\necho boot\n", 0o755),
			"/etc/reboot":       write(t, dir+"/reboot", "#!/bin/sh\n", 0o755),
			"/usr/share/x/data": write(t, dir+"/data", "deep", 0o644),
		},
		Warn: func(s string) { *warns = append(*warns, s) },
	}, warns
}

func build(t *testing.T, b *Builder, compress string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := b.Write(&buf, compress); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	b, warns := fixture(t)
	for _, compress := range []string{"", "gzip"} {
		recs, err := Read(build(t, b, compress))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]cpio.Record{}
		var order []string
		for _, r := range recs {
			got[r.Name] = r
			order = append(order, r.Name)
			if r.UID != 0 || r.GID != 0 || (r.Name != cpio.Trailer && r.MTime != 1700000000) {
				t.Errorf("%s: uid %d gid %d mtime %d", r.Name, r.UID, r.GID, r.MTime)
			}
		}
		for _, tc := range []struct {
			name string
			mode uint64
			dev  [2]uint64
			body string
		}{
			{"dev/console", cpio.S_IFCHR | 0o600, [2]uint64{5, 1}, ""},
			{"dev/null", cpio.S_IFCHR | 0o666, [2]uint64{1, 3}, ""},
			{"tmp", cpio.S_IFDIR | 0o1777, [2]uint64{}, ""},
			{"proc", cpio.S_IFDIR | 0o555, [2]uint64{}, ""},
			{"root", cpio.S_IFDIR | 0o700, [2]uint64{}, ""},
			{"etc/boot", cpio.S_IFREG | 0o755, [2]uint64{}, "#!/bin/sh\necho boot\n"},
			{"etc/motd", cpio.S_IFREG | 0o600, [2]uint64{}, "hello\n"},
			{"bin/sh", cpio.S_IFLNK | 0o777, [2]uint64{}, "busybox"},
			{"var/empty", cpio.S_IFDIR | 0o711, [2]uint64{}, ""},
			{"usr/share", cpio.S_IFDIR | 0o755, [2]uint64{}, ""},
			{"usr/share/x/data", cpio.S_IFREG | 0o644, [2]uint64{}, "deep"},
			{"init", cpio.S_IFREG | 0o755, [2]uint64{}, ""},
		} {
			r, ok := got[tc.name]
			if !ok {
				t.Errorf("%s missing", tc.name)
				continue
			}
			if r.Mode != tc.mode || r.Rmajor != tc.dev[0] || r.Rminor != tc.dev[1] {
				t.Errorf("%s: mode %o dev %d,%d; want %o %v", tc.name, r.Mode, r.Rmajor, r.Rminor, tc.mode, tc.dev)
			}
			if tc.body != "" {
				body, _ := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
				if string(body) != tc.body {
					t.Errorf("%s: body %q, want %q", tc.name, body, tc.body)
				}
			}
		}
		seen := map[string]bool{}
		for i, name := range order {
			if name == cpio.Trailer {
				if i != len(order)-1 {
					t.Errorf("trailer at %d of %d", i, len(order))
				}
				continue
			}
			if d := filepath.Dir(name); d != "." && !seen[d] {
				t.Errorf("%s comes before its parent %s", name, d)
			}
			if got[name].Ino != uint64(i+1) {
				t.Errorf("%s: inode %d, want %d", name, got[name].Ino, i+1)
			}
			seen[name] = true
		}
	}
	if len(*warns) != 0 {
		t.Errorf("unexpected warnings: %q", *warns)
	}
}

func TestReproducible(t *testing.T) {
	b, _ := fixture(t)
	for _, compress := range []string{"", "gzip"} {
		one, two := build(t, b, compress), build(t, b, compress)
		if !bytes.Equal(one, two) {
			t.Errorf("compress %q: two builds differ", compress)
		}
	}
	// A touched input (new mtime, same content) changes nothing either.
	os.Chtimes(b.Files["/etc/boot"], b2time(), b2time())
	c, _ := fixture(t)
	c.Overlay, c.Files = b.Overlay, b.Files
	if !bytes.Equal(build(t, b, ""), build(t, c, "")) {
		t.Error("archive depends on input mtimes")
	}
}

func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	elfBytes, _ := os.ReadFile(staticELF(t))
	arm := append([]byte(nil), elfBytes...)
	arm[18], arm[19] = byte(elf.EM_AARCH64), 0
	wrongArch := write(t, dir+"/arm", string(arm), 0o755)
	for _, tc := range []struct {
		name, init, want string
	}{
		{"missing", dir + "/nope", "not an ELF"},
		{"script", write(t, dir+"/script", "#!/bin/sh\n", 0o755), "not an ELF"},
		{"wrong arch", wrongArch, "built for EM_AARCH64"},
		{"dynamic", "/bin/ls", "dynamically linked"},
	} {
		b, _ := fixture(t)
		b.Init = tc.init
		err := b.Write(io.Discard, "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestWarnings(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"missing stages", map[string]string{}, []string{"/etc/boot is missing", "/etc/reboot is missing"}},
		{"not executable", map[string]string{"/etc/boot": write(t, dir+"/b1", "#!/bin/sh\n", 0o644),
			"/etc/reboot": write(t, dir+"/r1", "#!/bin/sh\n", 0o755)}, []string{"/etc/boot is not executable"}},
		{"interpreter absent", map[string]string{"/etc/boot": write(t, dir+"/b2", "#!/usr/bin/python3 -u\n", 0o755),
			"/etc/reboot": write(t, dir+"/r2", "#!/bin/bash\n", 0o755)},
			[]string{"#!/usr/bin/python3, which is not in the archive", "#!/bin/bash, which is not in the archive"}},
		{"interpreter via symlink ok", map[string]string{"/etc/boot": write(t, dir+"/b3", "#! /bin/sh -e\n", 0o755),
			"/etc/reboot": write(t, dir+"/r3", "\x7fELF", 0o755)}, nil},
	} {
		b, warns := fixture(t)
		b.Files = tc.files
		if err := b.Write(io.Discard, ""); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(*warns) != len(tc.want) {
			t.Errorf("%s: warnings %q, want %q", tc.name, *warns, tc.want)
			continue
		}
		for i, w := range tc.want {
			if !strings.Contains((*warns)[i], w) {
				t.Errorf("%s: warning %q lacks %q", tc.name, (*warns)[i], w)
			}
		}
	}
}

func TestList(t *testing.T) {
	b, _ := fixture(t)
	recs, err := Read(build(t, b, "gzip"))
	if err != nil {
		t.Fatal(err)
	}
	l := List(recs)
	for _, want := range []string{"c0600    0    0         0 /dev/console (5, 1)", "l0777", "/bin/sh -> busybox", "d1777", "/tmp\n", "-0755", "/init\n"} {
		if !strings.Contains(l, want) {
			t.Errorf("listing lacks %q:\n%s", want, l)
		}
	}
	if strings.Contains(l, cpio.Trailer) {
		t.Error("listing shows the trailer")
	}
}

func b2time() (t time.Time) { return time.Unix(1234567890, 0) }

// TestRealInitBinaries: init built as the Makefile builds it for amd64 and
// arm64 is a static ELF the builder accepts for its own -arch and refuses
// for the other; two arm64 builds give the same bytes.
func TestRealInitBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: builds init three times")
	}
	build := func(arch string) string {
		out := filepath.Join(t.TempDir(), "init")
		cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w -buildid=", "-o", out, "./cmd/init")
		cmd.Dir, cmd.Env = "..", append(os.Environ(), "CGO_ENABLED=0", "GOARCH="+arch)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", arch, err, b)
		}
		return out
	}
	amd, arm, arm2 := build("amd64"), build("arm64"), build("arm64")
	for _, tc := range []struct {
		bin  string
		m    elf.Machine
		want string
	}{
		{amd, elf.EM_X86_64, ""},
		{arm, elf.EM_AARCH64, ""},
		{amd, elf.EM_AARCH64, "is built for EM_X86_64, the target is EM_AARCH64"},
		{arm, elf.EM_X86_64, "is built for EM_AARCH64, the target is EM_X86_64"},
	} {
		err := CheckInit(tc.bin, tc.m)
		if (tc.want == "" && err != nil) || (tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want))) {
			t.Errorf("CheckInit(%v): %v, want %q", tc.m, err, tc.want)
		}
	}
	a, _ := os.ReadFile(arm)
	b, _ := os.ReadFile(arm2)
	if !bytes.Equal(a, b) {
		t.Errorf("two arm64 builds differ")
	}
}
