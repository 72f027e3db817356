package initramfs

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"
)

// CheckInit refuses an /init that is not a static ELF executable for the
// target machine (no PT_INTERP: the initramfs has no dynamic loader).
func CheckInit(p string, want elf.Machine) error {
	f, err := elf.Open(p)
	if err != nil {
		return fmt.Errorf("init %s is not an ELF executable: %w", p, err)
	}
	defer f.Close()
	if f.Machine != want {
		return fmt.Errorf("init %s is built for %v, the target is %v", p, f.Machine, want)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("init %s is dynamically linked (it needs a loader the initramfs does not have): build it with CGO_ENABLED=0", p)
		}
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("init %s is an ELF %v, not an executable", p, f.Type)
	}
	return nil
}

// fileRecord makes a record of one host file (regular or symlink).
func fileRecord(name, src string) (cpio.Record, error) {
	fi, err := os.Lstat(src)
	if err != nil {
		return cpio.Record{}, fmt.Errorf("add /%s: %w", name, err)
	}
	return record(name, src, fi)
}

func record(name, src string, fi fs.FileInfo) (cpio.Record, error) {
	perm := uint64(fi.Mode().Perm())
	if fi.Mode()&fs.ModeSticky != 0 {
		perm |= 0o1000
	}
	if fi.Mode()&fs.ModeSetuid != 0 {
		perm |= 0o4000
	}
	if fi.Mode()&fs.ModeSetgid != 0 {
		perm |= 0o2000
	}
	switch {
	case fi.Mode().IsRegular():
		data, err := os.ReadFile(src)
		if err != nil {
			return cpio.Record{}, fmt.Errorf("read %s: %w", src, err)
		}
		return cpio.StaticRecord(data, cpio.Info{Name: name, Mode: cpio.S_IFREG | perm}), nil
	case fi.Mode()&fs.ModeSymlink != 0:
		t, err := os.Readlink(src)
		if err != nil {
			return cpio.Record{}, fmt.Errorf("readlink %s: %w", src, err)
		}
		return cpio.Symlink(name, t), nil
	case fi.IsDir():
		return cpio.Directory(name, perm), nil
	}
	return cpio.Record{}, fmt.Errorf("add /%s: %s is a %v, not a file, directory or symlink", name, src, fi.Mode().Type())
}

// addTree adds an overlay directory: files, directories (with their
// modes) and symlinks (kept as links).
func addTree(recs map[string]cpio.Record, root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		r, err := record(filepath.ToSlash(rel), p, fi)
		if err != nil {
			return err
		}
		recs[r.Name] = r
		return nil
	})
}

// checkStages warns about a missing, non-executable or #!-script stage
// whose interpreter is not in the archive.
func (b *Builder) checkStages(recs map[string]cpio.Record) {
	warn := b.Warn
	if warn == nil {
		warn = func(string) {}
	}
	for _, stage := range []string{"etc/boot", "etc/reboot"} {
		r, ok := recs[stage]
		if !ok {
			warn(fmt.Sprintf("/%s is missing: init will log it and treat it as exit 127", stage))
			continue
		}
		if r.Mode&cpio.S_IFMT == cpio.S_IFREG && r.Mode&0o111 == 0 {
			warn(fmt.Sprintf("/%s is not executable (mode %04o): init will treat it as exit 126", stage, r.Mode&0o7777))
		}
		if interp := interpreter(r); interp != "" && !resolves(recs, interp) {
			warn(fmt.Sprintf("/%s starts with #!%s, which is not in the archive", stage, interp))
		}
	}
}

// interpreter returns the path named on a #! first line, or "".
func interpreter(r cpio.Record) string {
	if r.ReaderAt == nil || r.Mode&cpio.S_IFMT != cpio.S_IFREG {
		return ""
	}
	line, _ := bufio.NewReader(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize))).ReadString('\n')
	if !strings.HasPrefix(line, "#!") {
		return ""
	}
	f := strings.Fields(strings.TrimPrefix(line, "#!"))
	if len(f) == 0 {
		return "/"
	}
	return f[0]
}

// resolves tells whether p exists in the archive, following symlinks.
func resolves(recs map[string]cpio.Record, p string) bool {
	for hops := 0; hops < 16; hops++ {
		r, ok := recs[cpio.Normalize(p)]
		if !ok {
			return false
		}
		if r.Mode&cpio.S_IFMT != cpio.S_IFLNK {
			return true
		}
		t, _ := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
		target := string(bytes.TrimSpace(t))
		if !path.IsAbs(target) {
			target = path.Join("/", path.Dir(cpio.Normalize(p)), target)
		}
		p = target
	}
	return false
}
