package config

import (
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
// warning: a file that is too large or not JSON gives nothing at all.
// (A decoder of this one shape, RFC 8259's grammar: encoding/json would
// cost a third of a megabyte of init's binary.)
func ParseMetadata(data []byte) (Metadata, []string) {
	var m Metadata
	var warn []string
	w := func(f string, a ...any) { warn = append(warn, fmt.Sprintf("metadata: "+f, a...)) }
	if len(data) > MaxMetadata {
		w("%d bytes, more than %d: ignored", len(data), MaxMetadata)
		return m, warn
	}
	var env map[string]string
	var dir *string
	var fields []string
	d := &decoder{s: data}
	err := d.object(func(k string) (err error) {
		fields = append(fields, k)
		switch k {
		case "env":
			env, err = d.strings()
		case "working_dir":
			dir, err = d.str()
		default:
			err = d.skip()
		}
		return err
	})
	if err == nil && d.ws() < len(data) {
		err = d.errorf("data after the object")
	}
	if err != nil {
		return Metadata{}, []string{fmt.Sprintf("metadata: not a JSON object: %v", err)}
	}
	slices.Sort(fields)
	for _, k := range slices.Compact(fields) {
		switch {
		case k == "env" && env == nil:
			w("\"env\" is not an object of strings: ignored")
		case k == "env":
			m.Env = validEnvMap(env, w)
		case k == "working_dir" && dir == nil:
			w("\"working_dir\" is not a string: ignored")
		case k == "working_dir":
			if err := validPath(*dir); err != nil {
				w("working_dir ignored: %v", err)
			} else {
				m.Workdir = *dir
			}
		default:
			w("unknown field %q ignored", k)
		}
	}
	return m, warn
}

func validEnvMap(env map[string]string, w func(string, ...any)) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if err := validEnv(k, env[k]); err != nil {
			w("env %q ignored: %v", k, err)
			continue
		}
		out = append(out, k+"="+env[k])
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
	dir := meta.Workdir
	if cmd.Workdir != "" {
		dir = cmd.Workdir
	}
	return env, dir
}

// decoder reads JSON (RFC 8259) from s at i. A value of another type than
// the one asked for is skipped and reported as nil; errors are syntax
// errors.
type decoder struct {
	s []byte
	i int
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

func (d *decoder) peek() byte {
	if d.ws() < len(d.s) {
		return d.s[d.i]
	}
	return 0
}

// accept consumes c if it comes next (no blanks skipped).
func (d *decoder) accept(c byte) bool {
	if d.i < len(d.s) && d.s[d.i] == c {
		d.i++
		return true
	}
	return false
}

// list reads the members of an object or an array up to end, calling
// each with the decoder at the member.
func (d *decoder) list(open, end byte, each func() error) error {
	if d.peek() != open {
		return d.errorf("want %q", open)
	}
	d.i++
	for first := true; d.peek() != end; first = false {
		if !first && !d.accept(',') {
			return d.errorf("want ',' or %q", end)
		}
		if err := each(); err != nil {
			return err
		}
	}
	d.i++
	return nil
}

// object reads an object, calling member with each key and the decoder at
// its value, which member must read.
func (d *decoder) object(member func(key string) error) error {
	return d.list('{', '}', func() error {
		k, err := d.str()
		if err == nil && k == nil {
			err = d.errorf("want a string key")
		}
		if err == nil && (d.peek() != ':' || !d.accept(':')) {
			err = d.errorf("want ':'")
		}
		if err != nil {
			return err
		}
		return member(*k)
	})
}

// strings reads an object of strings; nil for another value.
func (d *decoder) strings() (map[string]string, error) {
	if d.peek() != '{' {
		return nil, d.skip()
	}
	m, ok := map[string]string{}, true
	err := d.object(func(k string) error {
		v, err := d.str()
		if v == nil {
			ok = false
		} else {
			m[k] = *v
		}
		return err
	})
	if !ok {
		m = nil
	}
	return m, err
}

// str reads a string; nil for another value.
func (d *decoder) str() (*string, error) {
	if d.peek() != '"' {
		return nil, d.skip()
	}
	var b []byte
	for d.i++; ; d.i++ {
		if d.i >= len(d.s) {
			return nil, d.errorf("unterminated string")
		}
		switch c := d.s[d.i]; {
		case c == '"':
			d.i++
			s := string(b)
			return &s, nil
		case c < 0x20:
			return nil, d.errorf("control character in a string")
		case c >= utf8.RuneSelf: // invalid UTF-8 becomes U+FFFD (as encoding/json)
			r, n := utf8.DecodeRune(d.s[d.i:])
			b, d.i = utf8.AppendRune(b, r), d.i+n-1
		case c != '\\':
			b = append(b, c)
		case d.i+1 < len(d.s) && strings.IndexByte(`"\/bfnrt`, d.s[d.i+1]) >= 0:
			d.i++
			b = append(b, "\"\\/\b\f\n\r\t"[strings.IndexByte(`"\/bfnrt`, d.s[d.i])])
		default:
			r, err := d.hex4()
			if err != nil {
				return nil, err
			}
			if utf16.IsSurrogate(r) { // a pair, else U+FFFD (as encoding/json)
				at := d.i
				if r2, err := d.hex4(); err == nil && utf16.DecodeRune(r, r2) != utf8.RuneError {
					r = utf16.DecodeRune(r, r2)
				} else {
					d.i, r = at, utf8.RuneError
				}
			}
			b = utf8.AppendRune(b, r)
		}
	}
}

// hex4 reads \uXXXX at d.i and leaves d.i on its last digit.
func (d *decoder) hex4() (rune, error) {
	if d.s[d.i] != '\\' {
		d.i++
	}
	if d.i+5 >= len(d.s) || d.s[d.i] != '\\' || d.s[d.i+1] != 'u' {
		return 0, d.errorf("bad escape")
	}
	n, err := strconv.ParseUint(string(d.s[d.i+2:d.i+6]), 16, 32)
	if err != nil {
		return 0, d.errorf("bad \\u escape")
	}
	d.i += 5
	return rune(n), nil
}

// skip reads any value.
func (d *decoder) skip() error {
	switch d.peek() {
	case '{':
		return d.object(func(string) error { return d.skip() })
	case '[':
		return d.list('[', ']', d.skip)
	case '"':
		_, err := d.str()
		return err
	}
	for _, lit := range []string{"true", "false", "null"} {
		if strings.HasPrefix(string(d.s[d.i:]), lit) {
			d.i += len(lit)
			return nil
		}
	}
	start := d.i // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
	d.accept('-')
	ok := d.accept('0') || d.digits()
	if ok && d.accept('.') {
		ok = d.digits()
	}
	if ok && (d.accept('e') || d.accept('E')) {
		_ = d.accept('+') || d.accept('-')
		ok = d.digits()
	}
	if !ok {
		d.i = start
		return d.errorf("not a JSON value")
	}
	return nil
}

func (d *decoder) digits() bool {
	start := d.i
	for d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9' {
		d.i++
	}
	return d.i > start
}
