package lifecycle

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stageinit/stageinit/config"
	"github.com/stageinit/stageinit/kmsg"
	"github.com/stageinit/stageinit/machine/machinetest"
	"github.com/stageinit/stageinit/stages"
	"golang.org/x/sys/unix"
)

// TestBootReason: the previous init's words, then pstore's records, then
// poweron; the words are refused whole when any is wrong.
func TestBootReason(t *testing.T) {
	for _, tc := range []struct {
		cmdline string
		pstore  map[string]string
		reason  string
		gen     int
	}{
		{"console=ttyS0", nil, "poweron", 1},
		{"stageinit.gen=2 stageinit.prev=reboot:SIGTERM stageinit.jump=1700000000000", map[string]string{"dmesg-ramoops-0": "Panic#1 Part1"}, "kexec", 3},
		{"x", map[string]string{"dmesg-ramoops-0": "Panic#1 Part1", "console-ramoops-0": "Panic"}, "panic", 1},
		{"x", map[string]string{"dmesg-ramoops-1": "Oops#1 Part1"}, "oops", 1},
		{"x", map[string]string{"console-ramoops-0": "Panic#1 Part1", "dmesg-ramoops-0": "Emergency#1 Part1"}, "poweron", 1},
		{"stageinit.gen=-1 stageinit.prev=reboot:SIGTERM stageinit.jump=1", nil, "poweron", 1},
		{"stageinit.gen=99999999999999999999 stageinit.prev=a:b stageinit.jump=1", nil, "poweron", 1},
		{"stageinit.gen=2 stageinit.gen=3 stageinit.prev=a:b stageinit.jump=1", nil, "poweron", 1},
		{"stageinit.gen=2 stageinit.prev=a:b", nil, "poweron", 1},
		{`stageinit.gen=2 stageinit.prev="a b" stageinit.jump=1`, nil, "poweron", 1},
	} {
		c, warns := config.ParseCmdline(tc.cmdline)
		h := newHistory(c, tc.pstore, time.Now())
		if h.reason != tc.reason || h.gen != tc.gen {
			t.Errorf("%q %v: reason %s generation %d, want %s %d", tc.cmdline, tc.pstore, h.reason, h.gen, tc.reason, tc.gen)
		}
		if strings.Contains(tc.cmdline, "stageinit.") && tc.reason != "kexec" && (len(warns) != 1 || !strings.Contains(warns[0], "the boot reason comes from the hardware")) {
			t.Errorf("%q: warnings %q, want one that refuses the words", tc.cmdline, warns)
		}
	}
	c, _ := config.ParseCmdline("stageinit.gen=2 stageinit.prev=reboot:SIGTERM stageinit.jump=" + strconv.FormatInt(time.Now().Add(-1400*time.Millisecond).UnixMilli(), 10))
	h := newHistory(c, nil, time.Now())
	if line := h.line(); !strings.HasPrefix(line, "generation 3, after a kexec from generation 2 (reboot requested by SIGTERM), down 1.") {
		t.Errorf("boot line %q", line)
	}
}

// TestWatchdogRefinesTheReason: a watchdog that appears with
// WDIOF_CARDRESET makes the reason watchdog, unless it was a kexec.
func TestWatchdogRefinesTheReason(t *testing.T) {
	for _, before := range []string{"poweron", "panic", "kexec"} {
		m := &machinetest.Fake{CardReset: true}
		n := newTestNode(t, m, t.TempDir())
		n.dog.Devs, n.hist.reason = []string{"/dev/watchdog0"}, before
		n.look()
		want := map[bool]string{true: "kexec", false: "watchdog"}[before == "kexec"]
		if n.hist.reason != want || n.at[petTimer].IsZero() {
			t.Errorf("reason %s after a card reset with %s, want %s (pet due %v)", n.hist.reason, before, want, n.at[petTimer])
		}
		b, err := os.ReadFile(filepath.Join(n.hist.dir, "stageinit.prom"))
		if err != nil || !strings.Contains(string(b), `stageinit_boot_reason{reason="`+want+`"`) || !strings.Contains(string(b), "stageinit_watchdog_timeout_seconds 30") {
			t.Errorf("metrics file %v:\n%s", err, b)
		}
	}
}

// TestMetricsFile: the Prometheus project's parser reads the file, every
// metric has HELP and TYPE, and the values are the history's.
func TestMetricsFile(t *testing.T) {
	c, _ := config.ParseCmdline("stageinit.gen=4 stageinit.prev=poweroff:power-button stageinit.jump=1700000000000")
	h := newHistory(c, nil, time.Now())
	h.toBoot, h.restarts, h.load = 250*time.Millisecond, 2, 1500*time.Millisecond
	dir := t.TempDir()
	if err := writeMetrics(dir, h.metrics(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "stageinit.prom"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(f)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"stageinit_generation": 5, "stageinit_boot_reason": 1, "stageinit_init_to_boot_stage_seconds": 0.25,
		"stageinit_stage_restarts_total": 2, "stageinit_kexec_load_seconds": 1.5, "stageinit_watchdog_timeout_seconds": 30}
	for name, fam := range families {
		if fam.GetHelp() == "" || fam.Type == nil {
			t.Errorf("%s: no HELP or TYPE", name)
		}
		m := fam.GetMetric()[0]
		v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
		if w, ok := want[name]; ok && v != w {
			t.Errorf("%s = %v, want %v", name, v, w)
		}
	}
	if len(families) != 10 || families["stageinit_kexec_downtime_seconds"] == nil {
		t.Errorf("%d families, want 10 with the kexec downtime", len(families))
	}
	labels := map[string]string{}
	for _, l := range families["stageinit_boot_reason"].GetMetric()[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	if labels["reason"] != "kexec" || labels["previous"] != "poweroff:power-button" {
		t.Errorf("boot reason labels %v", labels)
	}
	if err := writeMetrics("/proc/nonexistent", "x"); err == nil {
		t.Error("an unwritable directory is not an error")
	}
}

// TestRoundCarriesTheHistory: the stages see the reason and generation; a
// request's signal goes to the next generation's words and to the
// shutdown line, which pmsg keeps when there is one.
func TestRoundCarriesTheHistory(t *testing.T) {
	m := &machinetest.Fake{}
	dir := t.TempDir()
	n := newTestNode(t, m, dir)
	must(t, os.MkdirAll(dir+"/dev", 0o755))
	must(t, os.WriteFile(dir+"/dev/pmsg0", nil, 0o644))
	must(t, os.WriteFile(dir+"/kernel", []byte("K"), 0o644))
	n.startRound()
	n.signal(syscall.SIGTERM)
	exitLeader(t, n, unix.WaitStatus(syscall.SIGTERM))
	exitLeader(t, n, 0)
	settle(t, n)
	if e := env(t, m, 0); !strings.Contains(e, "INIT_BOOT_REASON=poweron") || !strings.Contains(e, "INIT_GENERATION=1") {
		t.Errorf("boot stage env:\n%s", e)
	}
	got := strings.Join(calls(m), "\n")
	if !strings.Contains(got, "stageinit.gen=1 stageinit.prev=reboot:SIGTERM stageinit.jump=MS") ||
		!strings.Contains(got, "write "+dir+"/dev/pmsg0 init: shutdown: kexec to generation 2, reboot requested by SIGTERM, up ") {
		t.Errorf("calls:\n%s", got)
	}
	if h := n.hist; h.who != "" || n.req != 0 || h.ended(stages.PoweroffRequest) != "poweroff:boot-stage" {
		t.Errorf("the request outlived its round: who %q req %v", h.who, n.req)
	}
}

// lines is a log's output, safe to read while the logger writes.
type lines struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// read flushes log and returns what it wrote.
func (l *lines) read(log *kmsg.Logger) string {
	log.Flush(time.Second)
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestMovePstore: the records go to /run (copied, then unlinked from
// pstore), the reason comes from their heads, and a record pstore refuses
// to give up stays, with one warning.
func TestMovePstore(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "run/stageinit/pstore")
	must(t, os.WriteFile(src+"/dmesg-ramoops-0", []byte("Panic#1 Part1\n<0>Kernel panic"), 0o444))
	must(t, os.WriteFile(src+"/pmsg-ramoops-0", []byte("init: shutdown: kexec\n"), 0o444))
	must(t, os.WriteFile(src+"/console-ramoops-0", []byte("[ 0.000] Linux version"), 0o444))
	m := &machinetest.Fake{Fail: map[string]error{"remove " + src + "/console-ramoops-0": unix.EPERM}}
	var out lines
	log := kmsg.NewLogger(&out, false, nil)
	heads := movePstore(m, log, src, dst)
	if h := newHistory(config.Cmdline{}, heads, time.Now()); h.reason != "panic" {
		t.Errorf("reason %s, want panic", h.reason)
	}
	for _, name := range []string{"dmesg-ramoops-0", "pmsg-ramoops-0", "console-ramoops-0"} {
		if b, err := os.ReadFile(filepath.Join(dst, name)); err != nil || len(b) < 10 {
			t.Errorf("%s not copied to %s: %q %v", name, dst, b, err)
		}
	}
	left, _ := os.ReadDir(src)
	if len(left) != 1 || left[0].Name() != "console-ramoops-0" {
		t.Errorf("left in pstore: %v, want console-ramoops-0 alone", left)
	}
	text := out.read(log)
	if strings.Count(text, "\n") != 2 || !strings.Contains(text, "3 records of an earlier boot, moved to "+dst) ||
		!strings.Contains(text, "operation not permitted: left in "+src+", where the next boot finds them again") {
		t.Errorf("log:\n%s", text)
	}
	if heads := movePstore(m, log, t.TempDir(), dst); len(heads) != 0 || strings.Count(out.read(log), "\n") != 2 {
		t.Errorf("an empty pstore: %v, or a log line", heads)
	}
}
