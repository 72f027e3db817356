package kexecboot

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"aead.dev/minisign"
	"github.com/stageinit/stageinit/machine/machinetest"
	"golang.org/x/sys/unix"
)

// signed is a layout with a key in the archive and kernel, initrd and
// command line signed by it.
type signed struct {
	p       Paths
	pub     minisign.PublicKey
	priv    minisign.PrivateKey
	kernel  []byte
	cmdline string
}

func newSigned(t *testing.T) *signed {
	t.Helper()
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := &signed{pub: pub, priv: priv, kernel: []byte("K the kernel"), cmdline: "console=ttyS0"}
	s.p = layout(t, map[string]string{"kernel": string(s.kernel), "kernel.initrd": "I the initrd",
		"kernel.cmdline": s.cmdline + "\n", "proc_cmdline": "old"})
	text, _ := pub.MarshalText()
	must(t, os.MkdirAll(s.p.Keys, 0o755))
	must(t, os.WriteFile(s.p.Keys+"/kexec.pub", text, 0o644)) // with its "untrusted comment:" line
	for _, f := range []string{s.p.Kernel, s.p.Initrd, s.p.Cmdline} {
		s.sign(t, f, priv)
	}
	return s
}

func (s *signed) sign(t *testing.T, path string, priv minisign.PrivateKey) {
	b, err := os.ReadFile(path)
	must(t, err)
	must(t, os.WriteFile(path+".minisig", minisign.Sign(priv, b), 0o644))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestVerifyRefusals: every way a signed update can be wrong is refused
// with its own message and nothing is loaded.
func TestVerifyRefusals(t *testing.T) {
	_, other, _ := minisign.GenerateKey(rand.Reader)
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, s *signed)
		want  string
	}{
		{"no signature", func(t *testing.T, s *signed) { os.Remove(s.p.Kernel + ".minisig") }, "verify " + "KERNEL: no signature: open KERNEL.minisig: no such file"},
		{"empty signature", func(t *testing.T, s *signed) { os.WriteFile(s.p.Kernel+".minisig", nil, 0o644) }, "KERNEL.minisig: minisign: invalid signature"},
		{"truncated signature", func(t *testing.T, s *signed) {
			b, _ := os.ReadFile(s.p.Kernel + ".minisig")
			os.WriteFile(s.p.Kernel+".minisig", b[:len(b)/2], 0o644)
		}, "KERNEL.minisig: minisign: invalid"},
		{"huge signature", func(t *testing.T, s *signed) {
			os.WriteFile(s.p.Kernel+".minisig", bytes.Repeat([]byte("a"), 5000), 0o644)
		}, "more than 4096 bytes"},
		{"binary signature", func(t *testing.T, s *signed) {
			os.WriteFile(s.p.Kernel+".minisig", []byte("\x00\xff\x01\n\n\n"), 0o644)
		}, "invalid untrusted comment"},
		{"a directory as signature", func(t *testing.T, s *signed) {
			os.Remove(s.p.Kernel + ".minisig")
			os.Mkdir(s.p.Kernel+".minisig", 0o755)
		}, "not a regular file"},
		{"a FIFO as signature", func(t *testing.T, s *signed) {
			os.Remove(s.p.Kernel + ".minisig")
			unix.Mkfifo(s.p.Kernel+".minisig", 0o644)
		}, "not a regular file"},
		{"signature of another file", func(t *testing.T, s *signed) {
			b, _ := os.ReadFile(s.p.Initrd + ".minisig")
			os.WriteFile(s.p.Kernel+".minisig", b, 0o644)
		}, "does not match the file"},
		{"valid signature by an unknown key", func(t *testing.T, s *signed) { s.sign(t, s.p.Kernel, other) }, "not one of the archive's"},
		{"tampered initrd", func(t *testing.T, s *signed) { os.WriteFile(s.p.Initrd, []byte("I the evil initrd"), 0o644) }, "verify INITRD: the signature by key"},
		{"tampered command line", func(t *testing.T, s *signed) { os.WriteFile(s.p.Cmdline, []byte("init=/bin/sh\n"), 0o644) }, "verify CMDLINE: the signature by key"},
		{"unsigned command line", func(t *testing.T, s *signed) { os.Remove(s.p.Cmdline + ".minisig") }, "verify CMDLINE: no signature"},
		{"garbage key", func(t *testing.T, s *signed) { os.WriteFile(s.p.Keys+"/kexec.pub", []byte("garbage\n"), 0o644) }, "no usable minisign key"},
		{"key of another algorithm", func(t *testing.T, s *signed) {
			raw := make([]byte, 42)
			binary.LittleEndian.PutUint16(raw, 0x4445) // "ED": a signature's algorithm, not a key's
			os.WriteFile(s.p.Keys+"/kexec.pub", []byte("untrusted comment: x\n"+base64.StdEncoding.EncodeToString(raw)+"\n"), 0o644)
		}, "invalid public key algorithm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSigned(t)
			tc.spoil(t, s)
			m := &machinetest.Fake{}
			_, err := Load(m, s.p)
			want := strings.NewReplacer("KERNEL", s.p.Kernel, "INITRD", s.p.Initrd, "CMDLINE", s.p.Cmdline).Replace(tc.want)
			if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, unix.EKEYREJECTED) {
				t.Errorf("error %v, want %q", err, want)
			}
			if calls := m.Calls(); len(calls) != 0 {
				t.Errorf("loaded despite the refusal: %q", calls)
			}
		})
	}
}

// swapper is a machine that replaces the kernel on disk while the kernel
// loads it, and keeps what the kernel got.
type swapper struct {
	*machinetest.Fake
	path       string
	got        []byte
	seals      int
	cmdline    string
	initrdSeen bool
}

func (w *swapper) KexecFileLoad(kernel, initrd *os.File, cmdline string) error {
	os.WriteFile(w.path, []byte("K an evil kernel, swapped in after the check"), 0o644)
	w.got, _ = io.ReadAll(kernel)
	w.seals, _ = unix.FcntlInt(kernel.Fd(), unix.F_GET_SEALS, 0)
	w.cmdline, w.initrdSeen = cmdline, initrd != nil
	return nil
}

// TestVerifiedIsLoaded: a correctly signed set loads, from a sealed memfd
// holding the bytes that were checked: a kernel swapped on disk after the
// check does not get in.
func TestVerifiedIsLoaded(t *testing.T) {
	s := newSigned(t)
	w := &swapper{Fake: &machinetest.Fake{}, path: s.p.Kernel}
	notes, err := Load(w, s.p, "stageinit.gen=1")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w.got, s.kernel) || w.seals&unix.F_SEAL_WRITE == 0 || !w.initrdSeen ||
		w.cmdline != "console=ttyS0 panic=10 stageinit.gen=1" {
		t.Errorf("loaded %q (seals %#x, initrd %v, cmdline %q), want the signed kernel, sealed", w.got, w.seals, w.initrdSeen, w.cmdline)
	}
	if !strings.Contains(strings.Join(notes, "\n"), "verified with minisign key "+fmt.Sprintf("%X", s.pub.ID())) {
		t.Errorf("notes %q", notes)
	}
	// No key: loaded as before, with a note saying so.
	os.Remove(s.p.Keys + "/kexec.pub")
	os.WriteFile(s.p.Kernel, []byte("K unsigned"), 0o644)
	if notes, err := Load(&machinetest.Fake{}, s.p); err != nil || !strings.Contains(strings.Join(notes, "\n"), "updates are not verified") {
		t.Errorf("without keys: %v, notes %q", err, notes)
	}
}

// TestDebianMinisign: a signature made by the Debian minisign tool
// (prehashed, the tool's default) verifies.
func TestDebianMinisign(t *testing.T) {
	dir := t.TempDir()
	p := Paths{Kernel: dir + "/kernel", ProcCmdline: dir + "/proc", Keys: dir + "/keys"}
	must(t, os.MkdirAll(p.Keys, 0o755))
	for src, dst := range map[string]string{"debian.pub": p.Keys + "/kexec.pub", "debian.kernel": p.Kernel, "debian.kernel.minisig": p.Kernel + ".minisig"} {
		b, err := os.ReadFile(filepath.Join("testdata", src))
		must(t, err)
		must(t, os.WriteFile(dst, b, 0o644))
	}
	must(t, os.WriteFile(p.ProcCmdline, []byte("x"), 0o644))
	if _, err := Load(&machinetest.Fake{}, p); err != nil {
		t.Errorf("Debian minisign's signature: %v", err)
	}
	must(t, os.WriteFile(p.Kernel, []byte("a kernel image, changed\n"), 0o644))
	if _, err := Load(&machinetest.Fake{}, p); err == nil || !strings.Contains(err.Error(), "A358334E6F8ABB5D does not match") {
		t.Errorf("changed file: %v", err)
	}
}

// TestVerifyOutsideTheHeap: a verified kernel of 16 MiB is copied and
// checked without passing through init's heap (the copy is a sealed memfd,
// read through a mapping), so pid 1 does not grow by it during an update.
func TestVerifyOutsideTheHeap(t *testing.T) {
	s := newSigned(t)
	big := bytes.Repeat([]byte("K"), 16<<20)
	must(t, os.WriteFile(s.p.Kernel, big, 0o644))
	s.sign(t, s.p.Kernel, s.priv)
	v, err := newVerifier(s.p.Keys)
	must(t, err)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f, err := v.open(s.p.Kernel)
	runtime.ReadMemStats(&after)
	must(t, err)
	defer f.Close()
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("verifying 16 MiB allocated %d bytes on the heap", grew)
	}
	got, err := io.ReadAll(f)
	if must(t, err); !bytes.Equal(got, big) {
		t.Errorf("the memfd holds %d bytes, not the verified kernel", len(got))
	}
}
