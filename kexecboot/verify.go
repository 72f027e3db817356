package kexecboot

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"aead.dev/minisign"
	"golang.org/x/sys/unix"
)

// maxSig bounds a .minisig or a key file: either is a few hundred bytes.
const maxSig = 4096

// verifier checks files against their minisign signatures (FILE.minisig)
// with the keys of the archive. A nil verifier checks nothing: the
// archive has no key.
type verifier struct {
	keys []minisign.PublicKey
	ids  []string
}

// newVerifier reads the minisign public keys (*.pub) of dir. Any key
// file turns verification on, even when none of them can be read: then
// nothing loads (fail closed).
func newVerifier(dir string) (*verifier, error) {
	names, _ := filepath.Glob(filepath.Join(dir, "*.pub"))
	if len(names) == 0 {
		return nil, nil
	}
	v, bad := &verifier{}, []string(nil)
	for _, n := range names {
		b, err := readRegular(n, maxSig)
		var k minisign.PublicKey
		if err == nil {
			err = k.UnmarshalText(b)
		}
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", n, err))
			continue
		}
		v.keys, v.ids = append(v.keys, k), append(v.ids, fmt.Sprintf("%X", k.ID()))
	}
	if len(v.keys) == 0 {
		return v, fmt.Errorf("verify: no usable minisign key in %s (%s): nothing unverified is loaded: %w",
			dir, strings.Join(bad, "; "), unix.EKEYREJECTED)
	}
	return v, nil
}

// check verifies data, read from path, against path.minisig.
func (v *verifier) check(path string, data []byte) error {
	sig, err := readRegular(path+".minisig", maxSig)
	if err != nil {
		return fmt.Errorf("verify %s: no signature: %v: %w", path, err, unix.EKEYREJECTED)
	}
	var s minisign.Signature
	if err := s.UnmarshalText(sig); err != nil {
		return fmt.Errorf("verify %s: %s.minisig: %v: %w", path, path, err, unix.EKEYREJECTED)
	}
	for _, k := range v.keys {
		if k.ID() == s.KeyID {
			if minisign.Verify(k, data, sig) {
				return nil
			}
			return fmt.Errorf("verify %s: the signature by key %X does not match the file "+
				"(changed since it was signed, or the signature of another file): %w",
				path, s.KeyID, unix.EKEYREJECTED)
		}
	}
	return fmt.Errorf("verify %s: signed by key %X, not one of the archive's (%s): %w",
		path, s.KeyID, strings.Join(v.ids, ", "), unix.EKEYREJECTED)
}

// open opens a file for the kernel, which must be a non-empty regular
// file. With keys it copies the file into a memfd, seals it, and checks
// the signature of the sealed bytes, mapped read-only: what was checked is
// what the kernel loads, a file swapped after the check cannot get in, and
// the copy stays in the kernel's page cache, not in init's heap.
func (v *verifier) open(path string) (*os.File, error) {
	f, size, err := openFile(path)
	if err == nil && size == 0 {
		f.Close()
		return nil, fmt.Errorf("open %s: empty file: %w", path, unix.EINVAL)
	}
	if err != nil || v == nil {
		return f, err
	}
	defer f.Close()
	m, n, err := sealedCopy(path, f)
	if err != nil {
		return nil, err
	}
	data, err := unix.Mmap(int(m.Fd()), 0, int(n), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		err = fmt.Errorf("mmap %s (%d bytes): %w", path, n, err)
	} else {
		err = v.check(path, data)
		unix.Munmap(data)
	}
	if err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// sealedCopy copies f (at most maxKernel bytes) into a memfd that can no
// longer change (memfd_create(2), F_SEAL_WRITE, F_SEAL_SHRINK,
// F_SEAL_GROW, F_SEAL_SEAL), and returns it, at offset 0, and its size.
func sealedCopy(path string, f *os.File) (*os.File, int64, error) {
	fd, err := unix.MemfdCreate(filepath.Base(path), unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, 0, fmt.Errorf("memfd_create %s: %w", filepath.Base(path), err)
	}
	m := os.NewFile(uintptr(fd), path)
	n, err := io.Copy(m, io.LimitReader(f, maxKernel+1))
	switch {
	case err != nil:
		err = fmt.Errorf("read %s: %w", path, err)
	case n == 0 || n > maxKernel:
		err = fmt.Errorf("read %s: %d bytes, not 1 to %d: %w", path, n, maxKernel, unix.EFBIG)
	default:
		seals := unix.F_SEAL_WRITE | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_SEAL
		if _, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err == nil {
			_, err = m.Seek(0, io.SeekStart)
		}
		if err != nil {
			err = fmt.Errorf("seal %s in a memfd: %w", path, err)
		}
	}
	if err != nil {
		m.Close()
		return nil, 0, err
	}
	return m, n, nil
}

// readRegular reads a small regular file whole, refusing anything larger
// than max, a FIFO or a directory.
func readRegular(path string, max int64) ([]byte, error) {
	f, _, err := openFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && int64(len(b)) > max {
		err = fmt.Errorf("%s: more than %d bytes: %w", path, max, unix.EFBIG)
	}
	return b, err
}
