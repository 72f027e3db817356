package e2e

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"aead.dev/minisign"
)

// signedBoot stages one update a round: an unsigned kernel, a kernel
// signed by another key, a signed kernel with a tampered initrd, one
// with a tampered command line, then a correctly signed set; each
// refusal shows in the next round's INIT_KEXEC_ERROR.
const signedBoot = `if grep -q stageinit.e2e=gen2 /proc/cmdline; then
  echo "generation 2 up: $(cat /proc/cmdline)"; kill -USR2 1; exec sleep 100
fi
n=$(cat /tmp/round 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/round
echo "round $n: INIT_KEXEC_ERROR=$INIT_KEXEC_ERROR"
rm -f /kernel* 
cp /boot/vmlinuz /kernel; cp /boot/initrd /kernel.initrd; cp /boot/cmdline /kernel.cmdline
cp /boot/vmlinuz.minisig /boot/initrd.minisig /boot/cmdline.minisig /
for f in vmlinuz initrd cmdline; do mv /$f.minisig /kernel$(echo .$f | sed 's/.vmlinuz//').minisig; done
case $n in
1) rm /kernel.minisig;;
2) cp /boot/vmlinuz.other.minisig /kernel.minisig;;
3) echo tampered >> /kernel.initrd;;
4) echo "$(cat /boot/cmdline) init=/bin/sh" > /kernel.cmdline;;
esac
kill -TERM 1; exec sleep 100`

// TestQEMUSignedUpdates: generation 1 has a key in its archive and
// refuses four bad updates before it kexecs the signed one.
func TestQEMUSignedUpdates(t *testing.T) {
	need(t)
	t.Parallel()
	dir := t.TempDir()
	pub, priv, _ := minisign.GenerateKey(rand.Reader)
	_, other, _ := minisign.GenerateKey(rand.Reader)
	pubText, _ := pub.MarshalText()
	gen2 := archive(t, node{Boot: signedBoot, Reboot: rebootEcho})
	files := map[string]string{"/boot/vmlinuz": vmlinuz, "/boot/initrd": gen2}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	files["/boot/cmdline"] = write("cmdline", []byte("console=ttyS0 panic=-1 quiet loglevel=5 stageinit.e2e=gen2\n"))
	files["/etc/stageinit/kexec.pub"] = write("kexec.pub", pubText)
	for name, src := range map[string]string{"vmlinuz": vmlinuz, "initrd": gen2, "cmdline": files["/boot/cmdline"]} {
		b := read(t, src)
		files["/boot/"+name+".minisig"] = write(name+".minisig", minisign.Sign(priv, b))
		if name == "vmlinuz" {
			files["/boot/vmlinuz.other.minisig"] = write("other.minisig", minisign.Sign(other, b))
		}
	}
	gen1 := archive(t, node{Boot: signedBoot, Reboot: rebootEcho, Files: files})
	v := boot(t, vmlinuz, gen1, warnings, 6*time.Minute)
	v.Expect("round 1: INIT_KEXEC_ERROR=",
		"round 2: INIT_KEXEC_ERROR=verify /kernel: no signature: open /kernel.minisig: no such file",
		"round 3: INIT_KEXEC_ERROR=verify /kernel: signed by key ", "not one of the archive's",
		"round 4: INIT_KEXEC_ERROR=verify /kernel.initrd: the signature by key ", "does not match the file",
		"round 5: INIT_KEXEC_ERROR=read /kernel.cmdline: verify /kernel.cmdline: the signature by key ", "does not match the file",
		"generation 2 up: console=ttyS0 panic=-1 quiet loglevel=5 stageinit.e2e=gen2 stageinit.gen=1 stageinit.prev=reboot:SIGTERM",
		"shutdown=poweroff", "reboot: Power down")
	if c := v.Wait(); !regexp.MustCompile(`round 1: INIT_KEXEC_ERROR=\s*\n`).MatchString(c) {
		t.Error("round 1 had a kexec error before any update")
	}
}
