package lifecycle

import (
	"cmp"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/stageinit/stageinit/config"
	"github.com/stageinit/stageinit/kmsg"
	"github.com/stageinit/stageinit/machine"
	"github.com/stageinit/stageinit/stages"
	"golang.org/x/sys/unix"
)

// history is why this generation booted and what it has done since, for
// the log, the stages' environment and the metrics file.
type history struct {
	gen      int
	reason   string        // kexec, watchdog, panic, oops, poweron
	prev     string        // after a kexec: what the previous generation ended with
	prevGen  int           // after a kexec: the generation that jumped
	down     time.Duration // after a kexec: from its kernel load to this init's start
	start    time.Time     // this init's start: its main began
	kernel   time.Duration // the kernel's start to this init's start
	toBoot   time.Duration // this init's start to the first boot stage's start
	restarts int           // stage restarts (EP_RESTART_ENABLED) so far
	load     time.Duration // the last kexec load
	who      string        // who asked for the round's request ("SIGTERM", "power-button"); "" : nobody
	cut      string        // the round's reboot stage was stopped: "deadline" or "request"; "": it was not
	stopped  int           // reboot stages stopped so far
	status   int           // the last boot stage's exit code, or 128+signal; -1 before any
	dir      string        // where the metrics file goes
}

// newHistory decides the boot reason from facts, first that holds: the
// previous init's words (kexec), then pstore records of a panic or an
// oops, else poweron. The watchdog, whose driver may come later, refines
// poweron, panic and oops to watchdog (watchdogReset).
func newHistory(c config.Cmdline, pstore map[string]string, start time.Time) history {
	h := history{gen: 1, reason: "poweron", start: start, dir: cmp.Or(c.MetricsDir, "/run/stageinit"), status: -1}
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) == nil {
		h.kernel = time.Duration(ts.Nano()) - time.Since(start)
	}
	if k := c.Kexec; k != nil {
		h.gen, h.reason, h.prev, h.prevGen, h.down = k.Gen+1, "kexec", k.Prev, k.Gen, h.start.Sub(k.Jump)
		return h
	}
	for name, head := range pstore {
		switch {
		case strings.HasPrefix(name, "dmesg-") && strings.HasPrefix(head, "Panic#"):
			h.reason = "panic"
		case strings.HasPrefix(name, "dmesg-") && strings.HasPrefix(head, "Oops#") && h.reason != "panic":
			h.reason = "oops"
		}
	}
	return h
}

// movePstore takes the records an earlier boot left with pstore in src
// (the kernel's Documentation/admin-guide/pstore-blk.rst, ramoops.rst) and
// moves them to dst, as systemd-pstore does: a copy there, then unlink(2),
// which erases the record from the backend, so that the next boot's
// reason comes from its own facts. It returns the start of each record's
// first line ("Panic#1 Part1"). A record that cannot be removed stays in
// pstore, with one warning.
func movePstore(m machine.Machine, log *kmsg.Logger, src, dst string) map[string]string {
	recs, _ := os.ReadDir(src)
	heads, names, kept := map[string]string{}, []string(nil), []string(nil)
	for _, r := range recs {
		data, err := machine.ReadFile(filepath.Join(src, r.Name()), 64<<20)
		heads[r.Name()], names = string(data[:min(len(data), 16)]), append(names, r.Name())
		if err == nil {
			err = os.MkdirAll(dst, 0o755)
		}
		if err == nil {
			err = machine.ReplaceFile(filepath.Join(dst, r.Name()), string(data))
		}
		if err == nil {
			err = m.Remove(filepath.Join(src, r.Name()))
		}
		if err != nil {
			kept = append(kept, err.Error())
		}
	}
	if len(names) > 0 {
		log.Warnf("pstore: %d records of an earlier boot, moved to %s: %s", len(names), dst, strings.Join(names, " "))
	}
	if len(kept) > 0 {
		log.Warnf("pstore: %s: left in %s, where the next boot finds them again", strings.Join(kept, "; "), src)
	}
	return heads
}

// line is the boot's log line.
func (h *history) line() string {
	s := "generation " + strconv.Itoa(h.gen)
	switch h.reason {
	case "kexec":
		return s + ", after a kexec from generation " + strconv.Itoa(h.prevGen) + " (" + told(h.prev) + "), down " +
			h.down.Round(100*time.Millisecond).String()
	case "poweron":
		return s + ", after a power-on (or a reset nothing recorded)"
	}
	return s + ", after a reset by " + h.reason
}

// env is INIT_BOOT_REASON and INIT_GENERATION for the stages.
func (h *history) env() []string {
	return []string{"INIT_BOOT_REASON=" + h.reason, "INIT_GENERATION=" + strconv.Itoa(h.gen)}
}

// words are what the next generation gets on its command line.
func (h *history) words(a stages.Action, now time.Time) []string {
	return []string{"stageinit.gen=" + strconv.Itoa(h.gen), "stageinit.prev=" + h.ended(a),
		"stageinit.jump=" + strconv.FormatInt(now.UnixMilli(), 10)}
}

// ended is what this generation ends with: the request, who asked, and
// why its reboot stage was stopped, if it was ("reboot:SIGTERM:deadline").
func (h *history) ended(a stages.Action) string {
	req, who := a.Shutdown(), cmp.Or(h.who, "boot-stage")
	if a == 0 {
		req = "none"
	}
	if h.cut != "" {
		return req + ":" + who + ":" + h.cut
	}
	return req + ":" + who
}

// told says what ended's token says, for the log.
func told(token string) string {
	req, rest, _ := strings.Cut(token, ":")
	who, cut, _ := strings.Cut(rest, ":")
	s := req + " requested by " + who
	if req == "none" {
		s = "the boot stage ended"
	}
	if cut != "" {
		s += "; its reboot stage was stopped " + map[string]string{"deadline": "at its deadline",
			"request": "by a request"}[cut]
	}
	return s
}

// shutdown is the line logged (and kept in pmsg) before a final action.
func (h *history) shutdown(f final, a stages.Action) string {
	s := "shutdown: " + f.String()
	if f == kexecJump {
		s += " to generation " + strconv.Itoa(h.gen+1)
	}
	return s + ", " + told(h.ended(a)) + ", up " + time.Since(h.start).Round(time.Second).String()
}

// whoName is the token of who asked: the signal's name, or power-button.
func whoName(why string) string {
	if strings.HasPrefix(why, "power button") {
		return "power-button"
	}
	return strings.ReplaceAll(why, " ", "-")
}

// metric is one gauge or counter of the metrics file.
type metric struct {
	kind, name, labels string
	value              float64
	help               string
}

// metrics is the metrics file, in the Prometheus text format.
func (h *history) metrics(armed time.Duration) string {
	ms := []metric{
		{"gauge", "generation", "", float64(h.gen),
			"Generation of this boot: 1 after a cold boot, N+1 after a kexec from generation N."},
		{"gauge", "boot_reason", `reason="` + h.reason + `",previous="` + h.prev + `"`, 1,
			"Why this generation booted: 1 for the reason (kexec, watchdog, panic, oops, poweron)."},
		{"gauge", "kernel_to_init_seconds", "", h.kernel.Seconds(),
			"From the kernel's start to init's start (CLOCK_BOOTTIME)."},
		{"gauge", "init_to_boot_stage_seconds", "", h.toBoot.Seconds(), "From init's start to the first boot stage's start."},
		{"counter", "stage_restarts_total", "", float64(h.restarts),
			"Stages started again after a crash (EP_RESTART_ENABLED)."},
		{"counter", "reboot_stage_stopped_total", "", float64(h.stopped),
			"Reboot stages (/etc/reboot) stopped at their deadline or by a request."},
		{"gauge", "boot_stage_exit_status", "", float64(h.status),
			"The last boot stage's (a microVM's command's) exit code, or 128+signal; -1 before any."},
		{"gauge", "kexec_load_seconds", "", h.load.Seconds(), "How long the last kexec load took; 0 before any."},
		{"gauge", "watchdog_timeout_seconds", "", armed.Seconds(),
			"The hardware watchdog's timeout while init pets it; 0 when none is armed."},
	}
	if h.reason == "kexec" {
		ms = append(ms, metric{"gauge", "kexec_downtime_seconds", "", h.down.Seconds(),
			"After a kexec: from the previous init's kernel load (before its teardown) to this init's start, wall clock."})
	}
	var b strings.Builder
	for _, m := range ms {
		n := "stageinit_" + m.name
		b.WriteString("# HELP " + n + " " + m.help + "\n# TYPE " + n + " " + m.kind + "\n" + n)
		if m.labels != "" {
			b.WriteString("{" + m.labels + "}")
		}
		b.WriteString(" " + strconv.FormatFloat(m.value, 'g', -1, 64) + "\n")
	}
	return b.String()
}

// writeMetrics replaces dir/stageinit.prom atomically (a temporary file,
// then rename(2)), for node_exporter's textfile collector.
func writeMetrics(dir, text string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return machine.ReplaceFile(filepath.Join(dir, "stageinit.prom"), text)
}
