// Command mkinitramfs writes a stageinit initramfs (newc cpio, plain or
// gzip) or lists one:
//
//	mkinitramfs -o node.cpio.gz -init build/init -boot boot.sh -reboot reboot.sh \
//	    -file /bin/busybox=/bin/busybox -overlay rootfs/
//	mkinitramfs -list node.cpio.gz
//
// -kexec-key FILE (repeatable) puts minisign public keys where init looks
// (/etc/stageinit/kexec.pub, kexec-2.pub ...): with a key in the archive,
// init kexecs only a kernel, initrd and command line signed by one.
package main

import (
	"bytes"
	"debug/elf"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"

	"aead.dev/minisign"
	"github.com/stageinit/stageinit/initramfs"
)

type fileFlags map[string]string

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func (f fileFlags) String() string { return fmt.Sprint(map[string]string(f)) }
func (f fileFlags) Set(v string) error {
	dst, src, ok := strings.Cut(v, "=")
	if !ok || dst == "" || src == "" {
		return fmt.Errorf("want DST=SRC, got %q", v)
	}
	f[dst] = src
	return nil
}

var machines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "riscv64": elf.EM_RISCV}

func main() {
	files := fileFlags{}
	out := flag.String("o", "", "output archive (.gz: gzip-compressed)")
	initPath := flag.String("init", "", "static init binary, installed as /init")
	boot := flag.String("boot", "", "file installed as /etc/boot")
	reboot := flag.String("reboot", "", "file installed as /etc/reboot")
	overlay := flag.String("overlay", "", "directory copied as the archive root")
	arch := flag.String("arch", runtime.GOARCH, "target architecture: amd64, arm64 or riscv64")
	list := flag.String("list", "", "list the contents of an archive and exit")
	var keys listFlag
	flag.Var(files, "file", "extra file DST=SRC (repeatable)")
	flag.Var(&keys, "kexec-key", "minisign public key that signs kexec updates (repeatable)")
	flag.Parse()
	if *list != "" {
		data, err := os.ReadFile(*list)
		fail(err)
		recs, err := initramfs.Read(data)
		fail(err)
		fmt.Print(initramfs.List(recs))
		for _, r := range recs {
			if name := "/" + r.Name; strings.HasPrefix(name, "/etc/stageinit/") && strings.HasSuffix(name, ".pub") {
				var k minisign.PublicKey
				b, _ := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
				if err := k.UnmarshalText(b); err != nil {
					fmt.Printf("kexec key %s: unusable (%v): init refuses every update\n", name, err)
				} else {
					fmt.Printf("kexec key %s: minisign key %X: init kexecs only what it signed\n", name, k.ID())
				}
			}
		}
		return
	}
	if *out == "" || *initPath == "" {
		fmt.Fprintln(os.Stderr, "mkinitramfs: -o and -init are required (or -list ARCHIVE)")
		flag.Usage()
		os.Exit(2)
	}
	m, ok := machines[*arch]
	if !ok {
		fail(fmt.Errorf("unknown -arch %q", *arch))
	}
	if *boot != "" {
		files["/etc/boot"] = *boot
	}
	if *reboot != "" {
		files["/etc/reboot"] = *reboot
	}
	for i, k := range keys {
		var key minisign.PublicKey
		b, err := os.ReadFile(k)
		if err == nil {
			err = key.UnmarshalText(b)
		}
		if err != nil {
			fail(fmt.Errorf("-kexec-key %s: %w", k, err))
		}
		name := "/etc/stageinit/kexec.pub"
		if i > 0 {
			name = fmt.Sprintf("/etc/stageinit/kexec-%d.pub", i+1)
		}
		files[name] = k
	}
	b := &initramfs.Builder{Init: *initPath, Files: files, Overlay: *overlay, Machine: m,
		MTime: sourceDateEpoch(),
		Warn:  func(s string) { fmt.Fprintln(os.Stderr, "mkinitramfs: warning:", s) }}
	compress := ""
	if strings.HasSuffix(*out, ".gz") {
		compress = "gzip"
	}
	var buf bytes.Buffer
	fail(b.Write(&buf, compress))
	fail(os.WriteFile(*out, buf.Bytes(), 0o644))
	fmt.Fprintf(os.Stderr, "mkinitramfs: wrote %s (%d bytes)\n", *out, buf.Len())
}

// sourceDateEpoch is SOURCE_DATE_EPOCH (reproducible-builds.org), else 0.
func sourceDateEpoch() uint64 {
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			fail(fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number", v))
		}
		return n
	}
	return 0
}

func fail(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkinitramfs:", err)
		os.Exit(1)
	}
}
