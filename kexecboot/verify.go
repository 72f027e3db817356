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

// open opens a file for the kernel. With keys it reads the file once,
// verifies those bytes and returns them in a sealed memfd, so that a file
// swapped after the check cannot get in.
func (v *verifier) open(path string) (*os.File, error) {
	f, err := openRegular(path)
	if err != nil || v == nil {
		return f, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKernel+1))
	if err == nil && len(data) > maxKernel {
		err = fmt.Errorf("more than %d bytes: %w", maxKernel, unix.EFBIG)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if err := v.check(path, data); err != nil {
		return nil, err
	}
	return sealed(path, data)
}

// sealed puts data in a memfd that can no longer change (memfd_create(2),
// F_SEAL_WRITE, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_SEAL).
func sealed(name string, data []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate(filepath.Base(name), unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create %s: %w", filepath.Base(name), err)
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err = f.Write(data); err == nil {
		seals := unix.F_SEAL_WRITE | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_SEAL
		_, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals)
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("seal %s in a memfd: %w", name, err)
	}
	return f, nil
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
