package config

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Cmdline is what init takes from the kernel command line (/proc/cmdline).
type Cmdline struct {
	Env        []string // env.KEY=value entries as KEY=value, in order
	Workdir    string   // workdir=
	Command    []string // words after a standalone "--" (microVM mode)
	DevkmsgSet bool     // printk.devkmsg= is given: leave printk_devkmsg alone
	// Watchdog is stageinit.watchdog=SECONDS, the hardware watchdog's
	// timeout (0: leave the device alone; nil: keep the device's).
	Watchdog *int
	// KexecWatchdog is stageinit.kexec_watchdog=SECONDS, the timeout the
	// watchdog keeps counting through a kexec (nil: the default, 120 s).
	KexecWatchdog *int
	// Exit is stageinit.exit=, how a microVM ends: "" (poweroff), "reboot",
	// or ExitPort, the I/O port of QEMU's isa-debug-exit.
	Exit     string
	ExitPort int
	// RebootTimeout is stageinit.reboot_timeout=SECONDS (or the plain
	// word STAGEINIT_REBOOT_TIMEOUT=SECONDS), the deadline of /etc/reboot
	// (0: none; nil: the default, 90 s).
	RebootTimeout *int
	// Rescue is "now" for stageinit.rescue (a shell on the console before
	// the first boot stage), "onfail" for stageinit.rescue=onfail (a shell
	// when the boot stage keeps failing); "": never a shell.
	Rescue string
	// MetricsDir is stageinit.metrics_dir=, where init writes its metrics.
	MetricsDir string
	// Kexec is what the previous init added before it jumped here; nil
	// when absent or refused.
	Kexec *Kexec
}

// Kexec is what an init says to the next generation on its command line:
// stageinit.gen=N stageinit.prev=REQUEST:WHO stageinit.jump=UNIX_MS.
type Kexec struct {
	Gen  int       // the generation that jumped
	Prev string    // what it ended with: the request and who asked ("reboot:SIGTERM")
	Jump time.Time // when it loaded the kernel, wall clock
}

// Split splits a command line into words with the kernel's rules
// (lib/cmdline.c next_arg): blanks (isspace: space, \t, \n, \v, \f,
// \r) separate words except inside double
// quotes; a quote opening the word or its value is removed, as is the
// matching quote closing the word. starts holds each word's offset in s.
func Split(s string) (words []string, starts []int) {
	inQuote, start := false, -1
	for i := 0; i <= len(s); i++ {
		blank := i == len(s) || !inQuote && strings.IndexByte(" \t\n\v\f\r", s[i]) >= 0
		if i < len(s) && s[i] == '"' {
			inQuote = !inQuote
		}
		switch {
		case blank && start >= 0:
			words, starts, start = append(words, unquote(s[start:i])), append(starts, start), -1
		case !blank && start < 0:
			start = i
		}
	}
	return words, starts
}

func unquote(w string) string {
	if strings.HasPrefix(w, `"`) {
		return strings.TrimSuffix(w[1:], `"`)
	}
	if k, v, ok := strings.Cut(w, "="); ok && strings.HasPrefix(v, `"`) {
		return k + "=" + strings.TrimSuffix(v[1:], `"`)
	}
	return w
}

// ParseCmdline reads the words init cares about; the others belong to the
// kernel or to other programs and are left alone.
func ParseCmdline(s string) (Cmdline, []string) {
	var c Cmdline
	var warn []string
	ours := map[string][]string{}
	words, _ := Split(s)
	for i, w := range words {
		if w == "--" {
			c.Command = words[i+1:]
			break
		}
		k, v, _ := strings.Cut(w, "=")
		var err error
		switch {
		case strings.HasPrefix(k, "env."):
			if err = validEnv(k[4:], v); err == nil {
				c.Env = append(c.Env, k[4:]+"="+v)
			}
		case k == "stageinit.gen" || k == "stageinit.prev" || k == "stageinit.jump":
			ours[k] = append(ours[k], v)
		case cmdlineWords[k] != nil:
			err = cmdlineWords[k](&c, v)
		}
		if err != nil {
			warn = append(warn, fmt.Sprintf("kernel command line %q ignored: %v", w, err))
		}
	}
	c.Kexec, warn = kexecWords(ours, warn)
	return c, warn
}

// cmdlineWords set what the word KEY=VALUE says, by KEY, or say why not.
var cmdlineWords = map[string]func(c *Cmdline, v string) error{
	"workdir":                  func(c *Cmdline, v string) error { return set(&c.Workdir, v, validPath(v)) },
	"stageinit.metrics_dir":    func(c *Cmdline, v string) error { return set(&c.MetricsDir, v, validPath(v)) },
	"printk.devkmsg":           func(c *Cmdline, _ string) error { c.DevkmsgSet = true; return nil },
	"stageinit.watchdog":       func(c *Cmdline, v string) error { return setSeconds(&c.Watchdog, v) },
	"stageinit.kexec_watchdog": func(c *Cmdline, v string) error { return setSeconds(&c.KexecWatchdog, v) },
	"stageinit.reboot_timeout": func(c *Cmdline, v string) error { return setSeconds(&c.RebootTimeout, v) },
	"STAGEINIT_REBOOT_TIMEOUT": func(c *Cmdline, v string) error { return setSeconds(&c.RebootTimeout, v) },
	"stageinit.exit":           setExit,
	"stageinit.rescue":         setRescue,
}

// setRescue reads stageinit.rescue (or stageinit.rescue=) and
// stageinit.rescue=onfail.
func setRescue(c *Cmdline, v string) error {
	if v != "" && v != "onfail" {
		return fmt.Errorf("not stageinit.rescue or stageinit.rescue=onfail: no rescue shell")
	}
	if c.Rescue = v; v == "" {
		c.Rescue = "now"
	}
	return nil
}

// setExit reads stageinit.exit=poweroff, reboot or isa-debug-exit[:PORT]
// (default port 0xf4).
func setExit(c *Cmdline, v string) error {
	how, port, hasPort := strings.Cut(v, ":")
	n, err := strconv.ParseUint(port, 0, 16)
	switch {
	case v == "poweroff" || v == "reboot":
		c.Exit, c.ExitPort = v, 0
	case how == "isa-debug-exit" && !hasPort:
		c.Exit, c.ExitPort = how, 0xf4
	case how == "isa-debug-exit" && err == nil && n > 0:
		c.Exit, c.ExitPort = how, int(n)
	default:
		return fmt.Errorf("not poweroff, reboot or isa-debug-exit[:PORT]: the VM powers off")
	}
	return nil
}

// set sets *dst to v unless err says v is wrong.
func set[T any](dst *T, v T, err error) error {
	if err == nil {
		*dst = v
	}
	return err
}

// setSeconds sets *dst to a number of seconds, 0 to 2^31-1.
func setSeconds(dst **int, v string) error {
	n, err := parseUint(v)
	if err != nil || n > math.MaxInt32 {
		return fmt.Errorf("not a number of seconds")
	}
	secs := int(n)
	*dst = &secs
	return nil
}

// kexecWords checks the words of the previous init: each once, gen in
// 1..2^31-1, prev a short token, jump a time in milliseconds. Anything
// wrong refuses them all: the boot reason then comes from the hardware.
func kexecWords(ours map[string][]string, warn []string) (*Kexec, []string) {
	if len(ours) == 0 {
		return nil, warn
	}
	one := func(k string) string {
		if v := ours["stageinit."+k]; len(v) == 1 {
			return v[0]
		}
		return ""
	}
	gen, err1 := parseUint(one("gen"))
	ms, err2 := parseUint(one("jump"))
	prev := one("prev")
	if err1 != nil || err2 != nil || gen < 1 || gen > math.MaxInt32 || ms > 1<<50 || !token(prev) {
		return nil, append(warn, fmt.Sprintf("kernel command line: stageinit.gen=%q stageinit.prev=%q stageinit.jump=%q "+
			"ignored (each once: gen 1..2147483647, prev a token, jump milliseconds): the boot reason comes from the hardware",
			ours["stageinit.gen"], ours["stageinit.prev"], ours["stageinit.jump"]))
	}
	return &Kexec{Gen: int(gen), Prev: prev, Jump: time.UnixMilli(int64(ms))}, warn
}

// token is 1 to 64 bytes of [A-Za-z0-9:._-].
func token(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte(":._-", c) >= 0) {
			return false
		}
	}
	return len(s) > 0 && len(s) <= 64
}

// Limits on what the command line and the metadata file may set.
const (
	maxKey   = 128
	maxValue = 4096
)

// validEnv checks a variable name and value.
func validEnv(k, v string) error {
	switch {
	case len(k) > maxKey:
		return fmt.Errorf("key longer than %d bytes", maxKey)
	case !validKey(k):
		return fmt.Errorf("key %q is not [A-Za-z_][A-Za-z0-9_]*", k)
	case len(v) > maxValue:
		return fmt.Errorf("value longer than %d bytes", maxValue)
	case strings.IndexByte(v, 0) >= 0:
		return fmt.Errorf("value contains a NUL byte")
	}
	return nil
}

// validKey matches [A-Za-z_][A-Za-z0-9_]* (no regexp package: its tables
// cost pid 1 start-up time and binary size).
func validKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return k != ""
}

// validPath checks a working directory: absolute and already clean.
func validPath(p string) error {
	if !filepath.IsAbs(p) || filepath.Clean(p) != p {
		return fmt.Errorf("path %q is not absolute and clean", p)
	}
	return nil
}
