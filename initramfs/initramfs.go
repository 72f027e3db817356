// Package initramfs builds the newc cpio archive of a stageinit node: the
// init binary as /init, the stages, extra files, an overlay directory and
// a fixed skeleton, reproducible byte for byte. It runs on the build host.
package initramfs

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"
)

// Builder collects the archive's contents.
type Builder struct {
	Init    string            // host path of the init binary, installed as /init
	Files   map[string]string // archive path -> host path (stages, extra files)
	Overlay string            // host directory copied as the archive root
	MTime   uint64            // every record's mtime (SOURCE_DATE_EPOCH)
	Machine elf.Machine       // architecture /init must be built for
	Warn    func(string)      // non-fatal findings
}

// skeleton is always in the archive. /dev/console and
// /dev/null must exist before devtmpfs is mounted: the Go runtime aborts
// before main when fds 0-2 are closed and /dev/null is missing.
func skeleton() []cpio.Record {
	return []cpio.Record{
		cpio.Directory("dev", 0o755),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.CharDev("dev/null", 0o666, 1, 3),
		cpio.Directory("proc", 0o555),
		cpio.Directory("sys", 0o555),
		cpio.Directory("tmp", 0o1777),
		cpio.Directory("etc", 0o755),
		cpio.Directory("root", 0o700),
	}
}

// Records returns the archive's records, parents before children, sorted,
// normalised (uid/gid 0, fixed mtime, inode numbers 1..n), trailer last.
func (b *Builder) Records() ([]cpio.Record, error) {
	recs := map[string]cpio.Record{}
	for _, r := range skeleton() {
		recs[r.Name] = r
	}
	if b.Overlay != "" {
		if err := addTree(recs, b.Overlay); err != nil {
			return nil, err
		}
	}
	for dst, src := range b.Files {
		r, err := fileRecord(cpio.Normalize(dst), src)
		if err != nil {
			return nil, err
		}
		recs[r.Name] = r
	}
	if err := CheckInit(b.Init, b.Machine); err != nil {
		return nil, err
	}
	r, err := fileRecord("init", b.Init)
	if err != nil {
		return nil, err
	}
	recs["init"] = r
	addParents(recs)
	b.checkStages(recs)
	return b.normalise(recs), nil
}

func addParents(recs map[string]cpio.Record) {
	for name := range recs {
		for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := recs[d]; !ok {
				recs[d] = cpio.Directory(d, 0o755)
			}
		}
	}
}

// less orders paths component by component, so a directory comes right
// before its contents.
func less(a, b string) bool {
	return strings.ReplaceAll(a, "/", "\x00") < strings.ReplaceAll(b, "/", "\x00")
}

func (b *Builder) normalise(recs map[string]cpio.Record) []cpio.Record {
	names := make([]string, 0, len(recs))
	for n := range recs {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return less(names[i], names[j]) })
	out := make([]cpio.Record, 0, len(names)+1)
	for i, n := range names {
		r := cpio.MakeReproducible(recs[n])
		r.Ino, r.NLink, r.MTime = uint64(i+1), 1, b.MTime
		if r.Mode&cpio.S_IFMT == cpio.S_IFDIR {
			r.NLink = 2
		}
		out = append(out, r)
	}
	return append(out, cpio.TrailerRecord)
}

// Write writes the archive to w, gzip-compressed when compress is "gzip"
// (fixed header: no name, no time) or plain when it is "".
func (b *Builder) Write(w io.Writer, compress string) error {
	recs, err := b.Records()
	if err != nil {
		return err
	}
	out := w
	var gz *gzip.Writer
	switch compress {
	case "":
	case "gzip":
		gz, _ = gzip.NewWriterLevel(w, gzip.BestCompression)
		out = gz
	default:
		return fmt.Errorf("compression %q: only gzip or none", compress)
	}
	cw := cpio.Newc.Writer(out)
	for _, r := range recs {
		if err := cw.WriteRecord(r); err != nil {
			return fmt.Errorf("write %s: %w", r.Name, err)
		}
	}
	if gz != nil {
		return gz.Close()
	}
	return nil
}

// Read reads the records of an archive, plain or gzip-compressed.
func Read(data []byte) ([]cpio.Record, error) {
	if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("gunzip: %w", err)
		}
		if data, err = io.ReadAll(gz); err != nil {
			return nil, fmt.Errorf("gunzip: %w", err)
		}
	}
	return cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(data)))
}

// List renders records like ls -l: mode, size or device, name, link.
func List(recs []cpio.Record) string {
	var sb strings.Builder
	for _, r := range recs {
		if r.Name == cpio.Trailer {
			continue
		}
		extra := ""
		switch r.Mode & cpio.S_IFMT {
		case cpio.S_IFLNK:
			t, _ := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
			extra = " -> " + string(t)
		case cpio.S_IFCHR, cpio.S_IFBLK:
			extra = fmt.Sprintf(" (%d, %d)", r.Rmajor, r.Rminor)
		}
		fmt.Fprintf(&sb, "%s %4d %4d %9d /%s%s\n", modeString(r.Mode), r.UID, r.GID, r.FileSize, r.Name, extra)
	}
	return sb.String()
}

func modeString(m uint64) string {
	t := map[uint64]byte{cpio.S_IFDIR: 'd', cpio.S_IFLNK: 'l', cpio.S_IFCHR: 'c', cpio.S_IFBLK: 'b',
		cpio.S_IFIFO: 'p', cpio.S_IFSOCK: 's'}[m&cpio.S_IFMT]
	if t == 0 {
		t = '-'
	}
	return fmt.Sprintf("%c%04o", t, m&0o7777)
}
