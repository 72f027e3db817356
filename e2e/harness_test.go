// Package e2e boots stageinit on a real kernel in QEMU (TCG, -no-reboot,
// panic=-1, serial console) with archives made by the project's builder.
package e2e

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stageinit/stageinit/initramfs"
	"github.com/u-root/u-root/pkg/cpio"
)

var (
	initBin   string // the real binary for amd64, built like the Makefile builds it
	vmlinuz   string // Debian's linux-image-amd64 kernel
	workDir   string
	qemuTotal struct {
		sync.Mutex
		d time.Duration
		n int
	}
)

// target is an architecture the QEMU tests boot: init built for it,
// Debian's kernel and a static busybox of it, and how QEMU runs it.
type target struct {
	arch                   string
	machine                elf.Machine
	qemu                   []string
	console                string
	init, vmlinuz, busybox string
	once                   sync.Once
	err                    error
}

var (
	amd64 = &target{arch: "amd64", machine: elf.EM_X86_64, qemu: []string{"qemu-system-x86_64"}, console: "ttyS0"}
	arm64 = &target{arch: "arm64", machine: elf.EM_AARCH64, console: "ttyAMA0",
		qemu: []string{"qemu-system-aarch64", "-M", "virt", "-cpu", "max"}}
)

func repoRoot() string {
	_, f, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(f))
}

// need prepares amd64's binary and kernel, or skips with the reason.
func need(t *testing.T) {
	t.Helper()
	needArch(t, amd64)
}

// needArch prepares a target, or skips with the reason (fails under make
// test, which installs everything: STAGEINIT_E2E=1). The first call
// calibrates the deadlines with a boot on amd64.
func needArch(t *testing.T, tg *target) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping QEMU test in -short mode")
	}
	for _, g := range []*target{amd64, tg} {
		g.once.Do(func() { g.err = g.setup() })
		if g.err != nil {
			if os.Getenv("STAGEINIT_E2E") != "" {
				t.Fatalf("QEMU test cannot run: %v", g.err)
			}
			t.Skipf("skipping QEMU test: %v", g.err)
		}
	}
	initBin, vmlinuz = amd64.init, amd64.vmlinuz
	calibrate(t)
}

func (tg *target) setup() error {
	if _, err := exec.LookPath(tg.qemu[0]); err != nil {
		return fmt.Errorf("%s not installed (apt-get install qemu-system-x86 qemu-system-arm, or run make test)", tg.qemu[0])
	}
	cache := os.Getenv("STAGEINIT_CACHE")
	if cache == "" {
		cache = filepath.Join(repoRoot(), ".cache")
	}
	out, err := exec.Command("bash", filepath.Join(repoRoot(), "scripts/debian-kernel.sh"), cache, tg.arch).Output()
	if err != nil {
		return fmt.Errorf("fetching Debian's %s kernel: %v", tg.arch, err)
	}
	tg.vmlinuz = strings.TrimSpace(string(out))
	tg.busybox = "/bin/busybox"
	if tg.arch != runtime.GOARCH {
		tg.busybox = filepath.Join(filepath.Dir(tg.vmlinuz), "../bin/busybox")
	}
	if _, err := os.Stat(tg.busybox); err != nil {
		return fmt.Errorf("%s busybox missing (apt-get install busybox-static, or run make test): %v", tg.arch, err)
	}
	dir, err := os.MkdirTemp(workDir, "init-"+tg.arch)
	if err != nil {
		return err
	}
	tg.init = filepath.Join(dir, "init")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", tg.init, "./cmd/init")
	build.Dir, build.Env = repoRoot(), append(os.Environ(), "CGO_ENABLED=0", "GOARCH="+tg.arch)
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v: %s", err, out)
	}
	return nil
}

// node describes an archive: stage scripts and files, by archive path.
type node struct {
	Boot, Reboot string            // script bodies (after #!/bin/sh)
	Text         map[string]string // extra files with this content
	Files        map[string]string // extra files copied from the host
	Drop         []string          // archive paths to leave out (tests only)
}

// archive builds the node's archive for amd64 with the project's builder.
func archive(t *testing.T, n node) string {
	t.Helper()
	return archiveFor(t, amd64, n)
}

// archiveFor builds the node's archive for a target.
func archiveFor(t *testing.T, tg *target, n node) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"/bin/busybox": tg.busybox}
	for k, v := range n.Files {
		files[k] = v
	}
	text := map[string]string{}
	for k, v := range n.Text {
		text[k] = v
	}
	if n.Boot != "" {
		text["/etc/boot"] = "#!/bin/sh\n/bin/busybox --install -s /bin\n" + n.Boot + "\n"
	}
	if n.Reboot != "" {
		text["/etc/reboot"] = "#!/bin/sh\n" + n.Reboot + "\n"
	}
	for dst, body := range text {
		src := filepath.Join(dir, "src", strings.ReplaceAll(dst, "/", "_"))
		os.MkdirAll(filepath.Dir(src), 0o755)
		if err := os.WriteFile(src, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		files[dst] = src
	}
	ov := filepath.Join(dir, "overlay", "bin")
	os.MkdirAll(ov, 0o755)
	os.Symlink("busybox", filepath.Join(ov, "sh"))
	b := &initramfs.Builder{Init: tg.init, Files: files, Overlay: filepath.Dir(ov), Machine: tg.machine}
	recs, err := b.Records()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := writeRecords(&buf, recs, n.Drop); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "node.cpio")
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// vm is one QEMU run.
type vm struct {
	t       *testing.T
	cmd     *exec.Cmd
	mu      sync.Mutex
	out     bytes.Buffer
	at      int // the console offset after the last line a test awaited
	mon     string
	serial  net.Conn // the serial line, when the test holds it (qemu.Serial)
	done    chan struct{}
	started time.Time
}

func (v *vm) Write(p []byte) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.out.Write(p)
}

// Console returns everything the serial console showed so far.
func (v *vm) Console() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.out.String()
}

// boot starts QEMU with kernel, initrd and extra command line words.
func boot(t *testing.T, kernel, initrd, cmdline string, timeout time.Duration) *vm {
	t.Helper()
	return qemu{Kernel: kernel, Initrd: initrd, Cmdline: cmdline, Timeout: timeout}.boot(t)
}

// qemu is a QEMU run with more choices than boot's: Reboots lets a reset
// (a watchdog's, a panic's reboot) restart the machine from its -kernel
// instead of ending QEMU (-no-reboot); Serial puts the serial line on a
// socket the test holds, so that it can type (Type), XOFF included; Args
// are extra QEMU arguments.
type qemu struct {
	Target                  *target // nil: amd64
	Kernel, Initrd, Cmdline string
	Timeout                 time.Duration // stretched by the calibration
	Reboots, Serial         bool
	Args                    []string
}

func (q qemu) boot(t *testing.T) *vm {
	t.Helper()
	kernel, initrd, cmdline, tg := q.Kernel, q.Initrd, q.Cmdline, q.Target
	if tg == nil {
		tg = amd64
	}
	dir, err := os.MkdirTemp("", "vm") // short: a socket path has at most 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	v := &vm{t: t, mon: filepath.Join(dir, "mon.sock"), done: make(chan struct{})}
	serial := []string{"-serial", "stdio"}
	if q.Serial { // QEMU waits for the test to connect before it starts
		serial = []string{"-chardev", "socket,id=ser0,path=" + filepath.Join(dir, "ser.sock") + ",server=on,wait=on",
			"-serial", "chardev:ser0"}
	}
	args := append(slices.Clone(tg.qemu[1:]), "-m", "1024", "-accel", "tcg", "-smp", "1", "-display", "none")
	args = append(append(args, serial...), "-monitor", "unix:"+v.mon+",server=on,wait=off",
		"-kernel", kernel, "-append", "console="+tg.console+" panic=-1 log_buf_len=16M quiet "+cmdline)
	args = append(args, q.Args...)
	if !q.Reboots {
		args = append(args, "-no-reboot")
	}
	if initrd != "" {
		args = append(args, "-initrd", initrd)
	}
	v.cmd = exec.Command(tg.qemu[0], args...)
	v.cmd.Stdout, v.cmd.Stderr = v, v
	v.started = time.Now()
	if err := v.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { v.cmd.Wait(); close(v.done) }()
	if q.Serial {
		v.connect(filepath.Join(dir, "ser.sock"))
	}
	timer := time.AfterFunc(stretch(q.Timeout), func() { v.cmd.Process.Kill() })
	t.Cleanup(func() {
		timer.Stop()
		v.cmd.Process.Kill()
		<-v.done
		el := time.Since(v.started)
		qemuTotal.Lock()
		qemuTotal.d += el
		qemuTotal.n++
		qemuTotal.Unlock()
		t.Logf("QEMU ran %v", el.Round(time.Millisecond))
		if t.Failed() {
			t.Logf("console:\n%s", v.Console())
		}
	})
	return v
}

// connect takes the serial line on its socket, and copies what comes to
// the console.
func (v *vm) connect(sock string) {
	v.t.Helper()
	for deadline := time.Now().Add(stretch(30 * time.Second)); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("unix", sock)
		if err == nil {
			v.serial = c
			go io.Copy(v, c)
			v.t.Cleanup(func() { c.Close() })
			return
		}
		if time.Now().After(deadline) {
			v.t.Fatalf("serial socket: %v", err)
		}
	}
}

// Type sends s on the serial line, as an operator types: "\x13" is XOFF
// (Ctrl-S, Scroll Lock), "\x11" XON (Ctrl-Q).
func (v *vm) Type(s string) {
	v.t.Helper()
	if _, err := v.serial.Write([]byte(s)); err != nil {
		v.t.Fatalf("serial: %v", err)
	}
}

// Wait waits for QEMU to exit (poweroff or reboot, with -no-reboot) and
// checks the console for a kernel panic or init's death. The console it
// returns is complete: a test may look for what is not there.
func (v *vm) Wait() string {
	v.t.Helper()
	<-v.done
	c := v.Console()
	v.noPanic(c)
	return c
}

func (v *vm) noPanic(c string) {
	v.t.Helper()
	for _, bad := range []string{"Kernel panic", "Attempted to kill init"} {
		if strings.Contains(c, bad) {
			v.t.Fatalf("console shows %q", bad)
		}
	}
}

// lineDeadline is how long a test waits for each line it expects, before
// the calibration stretches it.
const lineDeadline = 90 * time.Second

// Expect awaits each of wants on the console, in order, each after the
// one before and within its own deadline (lineDeadline).
func (v *vm) Expect(wants ...string) {
	v.t.Helper()
	for _, w := range wants {
		v.Await(w, lineDeadline)
	}
}

// Await waits until the console shows s after the line awaited before,
// at most d (stretched by the calibration); QEMU's exit without it fails
// at once.
func (v *vm) Await(s string, d time.Duration) {
	v.t.Helper()
	deadline := time.After(stretch(d))
	for {
		c := v.Console()
		if i := strings.Index(c[v.at:], s); i >= 0 {
			v.at += i + len(s)
			return
		}
		select {
		case <-v.done:
			if strings.Contains(v.Console()[v.at:], s) {
				continue
			}
			v.t.Fatalf("QEMU exited before the console showed %q (after offset %d)", s, v.at)
		case <-deadline:
			v.t.Fatalf("console never showed %q within %v (after offset %d)", s, stretch(d), v.at)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Monitor sends one command to the QEMU monitor and waits for its next
// prompt: QEMU has carried the command out.
func (v *vm) Monitor(cmd string) {
	v.t.Helper()
	c, err := net.Dial("unix", v.mon)
	if err != nil {
		v.t.Fatalf("monitor: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(stretch(30 * time.Second)))
	var seen []byte
	buf := make([]byte, 4096)
	for sent := false; bytes.Count(seen, []byte("(qemu)")) < 2; {
		n, err := c.Read(buf)
		if err != nil {
			v.t.Fatalf("monitor: %s: %v after %q", cmd, err, seen)
		}
		if seen = append(seen, buf[:n]...); !sent && bytes.Contains(seen, []byte("(qemu)")) {
			fmt.Fprintf(c, "%s\n", cmd)
			sent = true
		}
	}
}

// calibration is how long this machine took for a first boot of Debian's
// kernel to its boot stage's first line, and scale how much longer than
// an idle machine of the project's kind (2 cores; calibrationIdle): every
// deadline of the QEMU tests is stretched by it, so that a busy machine
// waits longer instead of failing.
var (
	calibration struct {
		once sync.Once
		took time.Duration
		err  error
	}
	scale = 1.0
)

const calibrationIdle = 5 * time.Second

// stretch is d stretched by the calibration.
func stretch(d time.Duration) time.Duration { return time.Duration(float64(d) * scale) }

// calibrate boots once, before the tests run in parallel, and sets scale.
func calibrate(t *testing.T) {
	t.Helper()
	calibration.once.Do(func() {
		img := archive(t, node{Boot: "echo calibration boot; touch /poweroff"})
		v := boot(t, vmlinuz, img, "", 5*time.Minute)
		v.Await("calibration boot", 5*time.Minute)
		calibration.took = time.Since(v.started)
		v.Wait()
		scale = max(1, float64(calibration.took)/float64(calibrationIdle))
	})
}
func TestMain(m *testing.M) {
	var err error
	if workDir, err = os.MkdirTemp("", "stageinit-e2e"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if qemuTotal.n > 0 {
		// go test shows a passing package's output only with -v: make test
		// prints this file.
		line := fmt.Sprintf("total QEMU time: %v in %d boots; calibration boot %v, deadlines x%.2f\n",
			qemuTotal.d.Round(time.Second), qemuTotal.n, calibration.took.Round(100*time.Millisecond), scale)
		fmt.Print(line)
		os.MkdirAll(filepath.Join(repoRoot(), "build"), 0o755)
		os.WriteFile(filepath.Join(repoRoot(), "build", "qemu-time.txt"), []byte(line), 0o644)
	}
	os.RemoveAll(workDir)
	os.Exit(code)
}

// writeRecords writes an uncompressed newc archive, leaving out drop.
func writeRecords(w io.Writer, recs []cpio.Record, drop []string) error {
	cw := cpio.Newc.Writer(w)
outer:
	for _, r := range recs {
		for _, d := range drop {
			if r.Name == strings.TrimPrefix(d, "/") {
				continue outer
			}
		}
		if err := cw.WriteRecord(r); err != nil {
			return err
		}
	}
	return nil
}
