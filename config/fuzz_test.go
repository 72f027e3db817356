package config

import (
	"math"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// FuzzSplit: every word starts at its offset (its text, or the quote that
// opens it), no word is empty unless it was quoted, and words outside
// quotes hold no blank.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{"", "a b", `env.MSG="a -- b" quiet`, `"x y" -- z`, "a\tb\nc", `a="" "`, `-- "--"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, starts := Split(s)
		if len(words) != len(starts) {
			t.Fatalf("%q: %d words, %d offsets", s, len(words), len(starts))
		}
		prev := -1
		for i, w := range words {
			at := starts[i]
			if at <= prev || at >= len(s) || strings.IndexByte(" \t\n\v\f\r", s[at]) >= 0 {
				t.Fatalf("%q: word %d %q at offset %d (previous %d)", s, i, w, at, prev)
			}
			if w == "" && !strings.Contains(s[at:], `"`) {
				t.Fatalf("%q: empty word %d without a quote", s, i)
			}
			if !strings.Contains(s, `"`) && strings.ContainsAny(w, " \t\n\v\f\r") {
				t.Fatalf("%q: word %q holds a blank outside quotes", s, w)
			}
			prev = at
		}
	})
}

// FuzzParseCmdline: what it takes is valid (env names and values, a clean
// absolute workdir), and the command is exactly the words after "--".
func FuzzParseCmdline(f *testing.F) {
	for _, s := range []string{"console=ttyS0 env.A=1 workdir=/srv", "env.1=x env.B=\"two words\" -- /bin/app -v",
		"stageinit.watchdog=30 stageinit.kexec_watchdog=99999999999", "workdir=../x printk.devkmsg=on", "-- --",
		"stageinit.gen=3 stageinit.prev=reboot:SIGTERM stageinit.jump=1700000000000",
		"stageinit.exit=isa-debug-exit:0x501 stageinit.reboot_timeout=0 STAGEINIT_REBOOT_TIMEOUT=9", "stageinit.exit=isa-debug-exit:0", "stageinit.gen=1 stageinit.gen=2 stageinit.prev=a stageinit.jump=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, _ := ParseCmdline(s)
		for _, kv := range c.Env {
			k, v, _ := strings.Cut(kv, "=")
			if err := validEnv(k, v); err != nil {
				t.Fatalf("%q: took %q: %v", s, kv, err)
			}
		}
		if c.Workdir != "" && validPath(c.Workdir) != nil {
			t.Fatalf("%q: took workdir %q", s, c.Workdir)
		}
		words, _ := Split(s)
		for i, w := range words {
			if w == "--" {
				if strings.Join(c.Command, "\x00") != strings.Join(words[i+1:], "\x00") {
					t.Fatalf("%q: command %q", s, c.Command)
				}
				break
			}
		}
		if !slices.Contains([]string{"", "poweroff", "reboot", "isa-debug-exit"}, c.Exit) ||
			c.ExitPort < 0 || c.ExitPort > 0xffff || (c.ExitPort != 0) != (c.Exit == "isa-debug-exit") {
			t.Fatalf("%q: exit %q port %d", s, c.Exit, c.ExitPort)
		}
		for _, p := range []*int{c.Watchdog, c.KexecWatchdog, c.RebootTimeout} {
			if p != nil && *p < 0 {
				t.Fatalf("%q: negative seconds %d", s, *p)
			}
		}
		gens := 0
		for _, w := range words {
			if w == "--" {
				break
			}
			if strings.HasPrefix(w, "stageinit.gen=") {
				gens++
			}
		}
		if k := c.Kexec; k != nil && (k.Gen < 1 || !token(k.Prev) || gens != 1) {
			t.Fatalf("%q: took the previous init's words %+v", s, *k)
		}
	})
}

// FuzzParseEP: any values give a usable configuration: durations and
// numbers in range, and only catchable signals in 1..64, each once.
func FuzzParseEP(f *testing.F) {
	f.Add("10", "USR1,RT1, 40,PIPE", "34", "64", "1", "128")
	f.Add("99999999999999999999", "KILL,STOP,0,65,RT31", "x", "", "2", "-1")
	f.Fuzz(func(t *testing.T, grace, sigs, rtmin, rtmax, restart, base string) {
		env := map[string]string{"EP_GRACE_SECONDS": grace, "EP_SIGNALS": sigs, "EP_SIGRTMIN": rtmin,
			"EP_SIGRTMAX": rtmax, "EP_RESTART_ENABLED": restart, "EP_EXIT_CODE_BASE": base, "EP_MAX_RESTARTS": base}
		ep, _ := ParseEP(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if ep.Grace < 0 || ep.Backoff < 0 || ep.ExitBase < 0 || ep.ExitBase > 255 || ep.MaxRestarts < 0 {
			t.Fatalf("out of range: %+v", ep)
		}
		if ep.Grace%time.Second != 0 && ep.Grace != math.MaxInt64 { // whole seconds, or clamped
			t.Fatalf("grace %v is not whole seconds", ep.Grace)
		}
		seen := map[syscall.Signal]bool{}
		for _, s := range ep.Signals {
			if s < 1 || s > 64 || s == syscall.SIGKILL || s == syscall.SIGSTOP || seen[s] {
				t.Fatalf("%q: signal %d", sigs, s)
			}
			seen[s] = true
		}
	})
}
