// Package config reads init's configuration: the EP_* variables of
// mini-init-asm, the kernel command line and /etc/metadata.json. Every
// parser is pure: it returns values and the warnings for what it refused.
package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// EP is the configuration carried by mini-init-asm's environment variables.
type EP struct {
	Grace       time.Duration    // EP_GRACE_SECONDS, default 10 s
	Signals     []syscall.Signal // EP_SIGNALS extras, deduplicated, in order
	Subreaper   bool             // EP_SUBREAPER=1
	ExitBase    int              // EP_EXIT_CODE_BASE, 0..255, default 128
	Restart     bool             // EP_RESTART_ENABLED=1
	MaxRestarts int              // EP_MAX_RESTARTS, 0 = unlimited
	Backoff     time.Duration    // EP_RESTART_BACKOFF_SECONDS, default 1 s
	PidsMax     int              // EP_PIDS_MAX: pids.max of stage cgroups, 0 = 90% of the kernel's limit
}

// defaultEP is what applies when no variable is set.
var defaultEP = EP{Grace: 10 * time.Second, ExitBase: 128, Backoff: time.Second}

// namedSignals are the names EP_SIGNALS accepts (mini-init-asm README).
var namedSignals = map[string]syscall.Signal{
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "PIPE": syscall.SIGPIPE,
	"WINCH": syscall.SIGWINCH, "TTIN": syscall.SIGTTIN, "TTOU": syscall.SIGTTOU,
	"CONT": syscall.SIGCONT, "ALRM": syscall.SIGALRM,
}

// ParseEP reads the EP_* variables through lookup (os.LookupEnv in
// production). Invalid or overflowing values are ignored with a warning
// and the default applies; the warnings use mini-init-asm's words
// ("invalid EP_GRACE_SECONDS; using default"), so scripts written against
// it keep working.
func ParseEP(lookup func(string) (string, bool)) (EP, []string) {
	ep := defaultEP
	var warn []string
	w := func(f string, a ...any) { warn = append(warn, fmt.Sprintf(f, a...)) }
	seconds(lookup, "EP_GRACE_SECONDS", &ep.Grace, w)
	seconds(lookup, "EP_RESTART_BACKOFF_SECONDS", &ep.Backoff, w)
	number(lookup, "EP_MAX_RESTARTS", math.MaxInt32, &ep.MaxRestarts, w)
	number(lookup, "EP_EXIT_CODE_BASE", 255, &ep.ExitBase, w)
	number(lookup, "EP_PIDS_MAX", math.MaxInt32, &ep.PidsMax, w)
	ep.Subreaper = flag(lookup, "EP_SUBREAPER", w)
	ep.Restart = flag(lookup, "EP_RESTART_ENABLED", w)
	if v, ok := lookup("EP_SIGNALS"); ok {
		var sw []string
		ep.Signals, sw = parseSignals(v, rtRange(lookup, w))
		warn = append(warn, sw...)
	}
	return ep, warn
}

// seconds reads a duration in whole seconds, clamped to the longest
// time.Duration (about 292 years).
func seconds(lookup func(string) (string, bool), name string, d *time.Duration, w func(string, ...any)) {
	v, ok := lookup(name)
	if !ok {
		return
	}
	n, err := parseUint(v)
	switch {
	case err != nil:
		w("invalid %s; using default: %s=%q ignored, not a non-negative decimal number of seconds", name, name, v)
	case n > uint64(math.MaxInt64/int64(time.Second)):
		w("%s too large; clamping to %v", name, time.Duration(math.MaxInt64))
		*d = math.MaxInt64
	default:
		*d = time.Duration(n) * time.Second
	}
}

// number reads a decimal number in 0..max.
func number(lookup func(string) (string, bool), name string, max uint64, dst *int, w func(string, ...any)) {
	if v, ok := lookup(name); ok {
		if n, err := parseUint(v); err != nil || n > max {
			w("invalid %s; using default: %s=%q ignored, not a decimal number in 0..%d", name, name, v, max)
		} else {
			*dst = int(n)
		}
	}
}

func flag(lookup func(string) (string, bool), name string, w func(string, ...any)) bool {
	v, ok := lookup(name)
	if !ok || v == "0" || v == "" {
		return false
	}
	if v != "1" {
		w("%s=%q ignored: only 1 enables it", name, v)
		return false
	}
	return true
}

// rtRange returns [SIGRTMIN, SIGRTMAX] from EP_SIGRTMIN/EP_SIGRTMAX, or
// nil when they are not both set to valid numbers (RT tokens disabled).
func rtRange(lookup func(string) (string, bool), w func(string, ...any)) []int {
	lo, lok := lookup("EP_SIGRTMIN")
	hi, hok := lookup("EP_SIGRTMAX")
	if !lok || !hok {
		return nil
	}
	l, err1 := parseUint(lo)
	h, err2 := parseUint(hi)
	if err1 != nil || err2 != nil || l < 32 || h > 64 || l > h {
		w("invalid EP_SIGRTMIN/EP_SIGRTMAX; RT tokens off: EP_SIGRTMIN=%q EP_SIGRTMAX=%q ignored, "+
			"need 32 <= min <= max <= 64", lo, hi)
		return nil
	}
	return []int{int(l), int(h)}
}

// parseSignals parses an EP_SIGNALS list: named tokens, decimal numbers
// 1..64 and RT1..RT30 (SIGRTMIN+N, only with rt set). Tokens are
// comma-separated, surrounding blanks are trimmed, empty tokens skipped.
// SIGKILL and SIGSTOP cannot be caught and are refused.
func parseSignals(csv string, rt []int) ([]syscall.Signal, []string) {
	var sigs []syscall.Signal
	var warn []string
	seen := map[syscall.Signal]bool{}
	for _, tok := range strings.Split(csv, ",") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			continue
		}
		sig, err := parseSignal(tok, rt)
		if err == errNoRT {
			warn = append(warn, fmt.Sprintf("RT* EP_SIGNALS tokens require EP_SIGRTMIN and EP_SIGRTMAX: token %q ignored", tok))
			continue
		}
		if err != nil {
			warn = append(warn, fmt.Sprintf("Unknown EP_SIGNALS token %q ignored: %v", tok, err))
			continue
		}
		if !seen[sig] {
			seen[sig] = true
			sigs = append(sigs, sig)
		}
	}
	return sigs, warn
}

var errNoRT = errors.New("no EP_SIGRTMIN and EP_SIGRTMAX")

func parseSignal(tok string, rt []int) (syscall.Signal, error) {
	if s, ok := namedSignals[tok]; ok {
		return s, nil
	}
	if strings.HasPrefix(tok, "RT") && len(tok) > 2 {
		n, err := parseUint(tok[2:])
		if err != nil || n < 1 || n > 30 {
			return 0, fmt.Errorf("RT tokens are RT1..RT30")
		}
		if rt == nil {
			return 0, errNoRT
		}
		if rt[0]+int(n) > rt[1] {
			return 0, fmt.Errorf("SIGRTMIN+%d is above EP_SIGRTMAX=%d", n, rt[1])
		}
		return syscall.Signal(rt[0] + int(n)), nil
	}
	n, err := parseUint(tok)
	if err != nil {
		return 0, fmt.Errorf("unknown signal name")
	}
	if n < 1 || n > 64 {
		return 0, fmt.Errorf("signal number out of 1..64")
	}
	if s := syscall.Signal(n); s == syscall.SIGKILL || s == syscall.SIGSTOP {
		return 0, fmt.Errorf("%v cannot be caught or forwarded", s)
	}
	return syscall.Signal(n), nil
}

// parseUint parses a non-negative decimal number (no sign, no blanks).
func parseUint(s string) (uint64, error) {
	if s == "" || s[0] == '+' {
		return 0, fmt.Errorf("not a non-negative decimal number")
	}
	return strconv.ParseUint(s, 10, 64)
}
