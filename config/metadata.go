package config

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxMetadata is the largest /etc/metadata.json accepted.
const MaxMetadata = 1 << 20

// Metadata is /etc/metadata.json: {"env": {...}, "working_dir": "/app"}.
type Metadata struct {
	Env     []string // KEY=value, sorted by key
	Workdir string
}

// ParseMetadata decodes the file. Each refused part is skipped with a
// warning: a file that is too large or not a JSON object gives nothing at
// all. (A decoder of RFC 8259 for this one use: encoding/json would cost
// a third of a megabyte of init's binary.)
func ParseMetadata(data []byte) (Metadata, []string) {
	if len(data) > MaxMetadata {
		return Metadata{}, []string{fmt.Sprintf("metadata: %d bytes, more than %d: ignored", len(data), MaxMetadata)}
	}
	d := &decoder{s: data}
	v, err := d.value()
	top, isObject := v.(map[string]any)
	if err == nil && d.ws() < len(data) {
		err = d.errorf("data after the object")
	} else if err == nil && !isObject {
		err = d.errorf("not an object")
	}
	if err != nil {
		return Metadata{}, []string{fmt.Sprintf("metadata: not a JSON object: %v", err)}
	}
	var m Metadata
	var warn []string
	w := func(f string, a ...any) { warn = append(warn, fmt.Sprintf("metadata: "+f, a...)) }
	for _, k := range slices.Sorted(maps.Keys(top)) {
		switch k {
		case "env":
			env, ok := top[k].(map[string]any)
			for _, v := range env {
				_, isString := v.(string)
				ok = ok && isString
			}
			if !ok {
				w("\"env\" is not an object of strings: ignored")
				continue
			}
			m.Env = validEnvMap(env, w)
		case "working_dir":
			if dir, ok := top[k].(string); !ok {
				w("\"working_dir\" is not a string: ignored")
			} else if err := validPath(dir); err != nil {
				w("working_dir ignored: %v", err)
			} else {
				m.Workdir = dir
			}
		default:
			w("unknown field %q ignored", k)
		}
	}
	return m, warn
}

func validEnvMap(env map[string]any, w func(string, ...any)) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if err := validEnv(k, env[k].(string)); err != nil {
			w("env %q ignored: %v", k, err)
			continue
		}
		out = append(out, k+"="+env[k].(string))
	}
	return out
}

// Merge builds the stage environment: base (init's own), then metadata,
// then the kernel command line, later layers winning; the order of first
// appearance is kept. It returns the environment and the working directory.
func Merge(base []string, meta Metadata, cmd Cmdline) ([]string, string) {
	var keys []string
	vals := map[string]string{}
	for _, layer := range [][]string{base, meta.Env, cmd.Env} {
		for _, kv := range layer {
			k, v, _ := strings.Cut(kv, "=")
			if _, ok := vals[k]; !ok {
				keys = append(keys, k)
			}
			vals[k] = v
		}
	}
	env := make([]string, 0, len(keys))
	for _, k := range keys {
		env = append(env, k+"="+vals[k])
	}
	return env, cmp.Or(cmd.Workdir, meta.Workdir)
}

// decoder reads JSON (RFC 8259) from s at i; errors are syntax errors.
type decoder struct {
	s     []byte
	i     int
	depth int // objects and arrays open
}

func (d *decoder) errorf(f string, a ...any) error {
	return fmt.Errorf("offset %d: "+f, append([]any{d.i}, a...)...)
}

// ws skips blanks and returns the offset of the next byte.
func (d *decoder) ws() int {
	for d.i < len(d.s) && strings.IndexByte(" \t\r\n", d.s[d.i]) >= 0 {
		d.i++
	}
	return d.i
}

// accept consumes c if it comes next, after blanks.
func (d *decoder) accept(c byte) bool {
	if d.ws() < len(d.s) && d.s[d.i] == c {
		d.i++
		return true
	}
	return false
}

// value reads a value: an object as map[string]any (the last of a
// repeated key wins, as in encoding/json), a string as string, anything
// else (arrays, numbers, true, false, null) as nil.
func (d *decoder) value() (any, error) {
	switch d.ws(); {
	case d.accept('{'):
		m := map[string]any{}
		return m, d.list('}', func() error {
			k, err := d.value()
			key, ok := k.(string)
			if err == nil && (!ok || !d.accept(':')) {
				return d.errorf("want a string key and ':'")
			}
			if err == nil {
				m[key], err = d.value()
			}
			return err
		})
	case d.accept('['):
		return nil, d.list(']', func() error { _, err := d.value(); return err })
	case d.accept('"'):
		return d.str()
	}
	for _, lit := range []string{"true", "false", "null"} {
		if bytes.HasPrefix(d.s[d.i:], []byte(lit)) {
			d.i += len(lit)
			return nil, nil
		}
	}
	return nil, d.number()
}

// list reads the members of an object or an array, whose opening byte
// was read, up to end. Nesting stops where encoding/json's does.
func (d *decoder) list(end byte, member func() error) error {
	if d.depth++; d.depth > 10000 {
		return d.errorf("nested deeper than 10000")
	}
	defer func() { d.depth-- }()
	for first := true; !d.accept(end); first = false {
		if d.i >= len(d.s) || !first && !d.accept(',') {
			return d.errorf("want ',' or %q", end)
		}
		if err := member(); err != nil {
			return err
		}
	}
	return nil
}

// number reads -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?.
func (d *decoder) number() error {
	start := d.i
	d.skip("-")
	ok := d.skip("0") || d.digits()
	if ok && d.skip(".") {
		ok = d.digits()
	}
	if ok && (d.skip("e") || d.skip("E")) {
		_ = d.skip("+") || d.skip("-")
		ok = d.digits()
	}
	if !ok {
		d.i = start
		return d.errorf("not a JSON value")
	}
	return nil
}

// skip consumes c if it comes next (no blanks skipped).
func (d *decoder) skip(c string) bool {
	if bytes.HasPrefix(d.s[d.i:], []byte(c)) {
		d.i++
		return true
	}
	return false
}

func (d *decoder) digits() bool {
	start := d.i
	for d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9' {
		d.i++
	}
	return d.i > start
}

// str reads a string whose opening quote was read. Invalid UTF-8 and lone
// surrogates become U+FFFD, as in encoding/json.
func (d *decoder) str() (string, error) {
	var b []byte
	for ; d.i < len(d.s); d.i++ {
		switch c := d.s[d.i]; {
		case c == '"':
			d.i++
			return string([]rune(string(b))), nil // each invalid byte a U+FFFD
		case c < 0x20:
			return "", d.errorf("control character in a string")
		case c != '\\':
			b = append(b, c)
		case d.i+1 < len(d.s) && strings.IndexByte(`"\/bfnrt`, d.s[d.i+1]) >= 0:
			d.i++
			b = append(b, "\"\\/\b\f\n\r\t"[strings.IndexByte(`"\/bfnrt`, d.s[d.i])])
		default:
			r, ok := d.hex4(d.i)
			if !ok {
				return "", d.errorf("bad escape")
			}
			d.i += 5
			if r2, ok := d.hex4(d.i + 1); ok && utf16.DecodeRune(r, r2) != utf8.RuneError {
				r, d.i = utf16.DecodeRune(r, r2), d.i+6
			}
			b = utf8.AppendRune(b, r) // a lone surrogate is U+FFFD
		}
	}
	return "", d.errorf("unterminated string")
}

// hex4 is the \uXXXX escape at i, if there is one.
func (d *decoder) hex4(i int) (rune, bool) {
	if i+6 > len(d.s) || d.s[i] != '\\' || d.s[i+1] != 'u' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(d.s[i+2:i+6]), 16, 32)
	return rune(n), err == nil
}
