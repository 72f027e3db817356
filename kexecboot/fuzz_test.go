package kexecboot

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"aead.dev/minisign"
	"github.com/stageinit/stageinit/config"
)

// FuzzWithPanic: panic=10 is added once, among the kernel's own words
// (before any "--"), only when none of them sets panic=; init's words
// after "--" are unchanged.
func FuzzWithPanic(f *testing.F) {
	for _, s := range []string{"console=ttyS0", "", "a -- b panic=1", `env.X="a -- b" q`, "panic=0", `"--" x`, "a --x --"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, _ := config.Split(s)
		kernel, init := words, []string(nil)
		if i := slices.Index(words, "--"); i >= 0 {
			kernel, init = words[:i], words[i+1:]
		}
		had := slices.ContainsFunc(kernel, func(w string) bool { return strings.HasPrefix(w, "panic=") })
		got, added := withPanic(s)
		if added == had || (!added && got != s) {
			t.Fatalf("%q: added %v, had %v: %q", s, added, had, got)
		}
		if !added || strings.Count(s, `"`)%2 == 1 {
			return // an unterminated quote swallows what follows it
		}
		gw, _ := config.Split(got)
		gk, gi := gw, []string(nil)
		if i := slices.Index(gw, "--"); i >= 0 {
			gk, gi = gw[:i], gw[i+1:]
		}
		if !slices.Contains(gk, "panic=10") || len(gk) != len(kernel)+1 || !slices.Equal(gi, init) {
			t.Fatalf("%q -> %q: kernel words %q, init's %q", s, got, gk, gi)
		}
	})
}

// FuzzNewCmdline: what reaches the kernel is at most 2047 bytes, with no
// NUL and no trailing newline.
func FuzzNewCmdline(f *testing.F) {
	f.Add([]byte("console=ttyS0\n"))
	f.Add([]byte(strings.Repeat("a", 2040)))
	f.Add([]byte("a\x00b"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := Paths{Cmdline: filepath.Join(dir, "cmdline"), ProcCmdline: filepath.Join(dir, "proc")}
		if err := os.WriteFile(p.Cmdline, b, 0o644); err != nil {
			t.Fatal(err)
		}
		c, _, err := newCmdline(p, nil)
		if err == nil && (len(c) > maxCmdline || strings.ContainsRune(c, 0) || strings.HasSuffix(c, "\n")) {
			t.Fatalf("%q: command line %q", b, c)
		}
	})
}

// FuzzDecompress: any bytes at /kernel are the kernel itself, a
// decompressed memfd, or an error; never a panic or a hang.
func FuzzDecompress(f *testing.F) {
	f.Add([]byte("MZ\x00\x00zimg\x20\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00gzip\x00\x00\x00\x00"))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3})
	f.Add([]byte("plain kernel"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "kernel")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		k, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer k.Close()
		out, err := decompress(k)
		if err == nil && out != k {
			out.Close()
		}
		plain := !(len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b) && !(len(b) >= 32 && string(b[:2]) == "MZ" && string(b[4:8]) == "zimg")
		if plain && (err != nil || out != k) {
			t.Fatalf("%q: not compressed, yet %v", b, err)
		}
	})
}

// FuzzVerify: no bytes in a .minisig make a file verify unless they are
// the file's signature by the archive's key; none crash the check.
func FuzzVerify(f *testing.F) {
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	good := minisign.Sign(priv, []byte("kernel"))
	f.Add(good, []byte("kernel"))
	f.Add(good[:len(good)-3], []byte("kernel"))
	f.Add([]byte("untrusted comment: x\n\ntrusted comment: y\n\n"), []byte(""))
	dir := f.TempDir()
	v := &verifier{keys: []minisign.PublicKey{pub}, ids: []string{"K"}}
	f.Fuzz(func(t *testing.T, sig, data []byte) {
		p := filepath.Join(dir, "kernel")
		if err := os.WriteFile(p+".minisig", sig, 0o644); err != nil {
			t.Fatal(err)
		}
		err := v.check(p, data)
		if err == nil && !(bytes.Equal(sig, good) && string(data) == "kernel") && !minisign.Verify(pub, data, sig) {
			t.Fatalf("verified %q with signature %q", data, sig)
		}
		if err != nil && bytes.Equal(sig, good) && string(data) == "kernel" {
			t.Fatalf("refused the good signature: %v", err)
		}
	})
}
