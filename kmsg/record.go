// Package kmsg writes init's own log lines and its stages' stderr to the
// kernel log through /dev/kmsg, one record per line (see
// Documentation/ABI/testing/dev-kmsg): "<L>tag: text".
package kmsg

import (
	"bytes"
	"io"
	"unicode/utf8"
)

// Syslog levels used by init (syslog(2)): crit for internal faults, err
// for stage and kexec failures, warning for refused input and failed
// mounts, info for the lifecycle, debug (with -v) for every signal and timer.
const (
	lvCrit    = 2
	lvErr     = 3
	lvWarning = 4
	lvInfo    = 6
	lvDebug   = 7
)

// MaxRecord is the largest record written in one write(2), prefix and
// newline included. Kernels before 6.6 refuse writes over LOG_LINE_MAX
// (1024 - 32 bytes) with EINVAL; later ones allow 1024. Staying under both
// means no line is ever rejected for its length.
const maxRecord = 976

// parseLevel splits a leading "<N>" (N a syslog level 0-7) off line. It
// returns def and the line unchanged when there is none.
func parseLevel(line []byte, def int) (int, []byte) {
	if len(line) >= 3 && line[0] == '<' && line[1] >= '0' && line[1] <= '7' && line[2] == '>' {
		return int(line[1] - '0'), line[3:]
	}
	return def, line
}

// appendEscaped appends text made safe for one kmsg record: NUL and other
// control bytes except tab, and bytes that are not valid UTF-8, become
// \xNN; nothing is dropped.
func appendEscaped(dst, text []byte) []byte {
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRune(text[i:])
		if (r == utf8.RuneError && n <= 1) || (r < 0x20 && r != '\t') || r == 0x7f {
			dst = append(dst, '\\', 'x', hexdigit[text[i]>>4], hexdigit[text[i]&0xf])
			i++
			continue
		}
		dst = append(dst, text[i:i+n]...)
		i += n
	}
	return dst
}

const hexdigit = "0123456789abcdef"

// appendRecords appends an escaped line (valid UTF-8, no newline) as one
// or more kmsg records "<L>prefix: chunk\n", each at most max bytes, split
// only on character boundaries. An empty line gives one record with an
// empty body. It allocates nothing when dst has room: the relay calls it
// for every line.
func appendRecords(dst []byte, level int, prefix string, body []byte, max int) []byte {
	room := max - len(prefix) - len("<L>: \n")
	if room < 4 {
		room = 4
	}
	for first := true; first || len(body) > 0; first = false {
		n := len(body)
		if n > room {
			n = cut(body, room)
		}
		dst = append(dst, '<', byte('0'+level), '>')
		dst = append(dst, prefix...)
		dst = append(dst, ':', ' ')
		dst = append(dst, body[:n]...)
		dst = append(dst, '\n')
		body = body[n:]
	}
	return dst
}

// writeLines writes b one line at a time, newline included (one write(2)
// per kmsg record), and reports whether a write failed.
func writeLines(w io.Writer, b []byte) (failed bool) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n') + 1
		if i == 0 {
			i = len(b)
		}
		if _, err := w.Write(b[:i]); err != nil {
			failed = true
		}
		b = b[i:]
	}
	return failed
}

// cut returns the largest n <= room such that b[:n] ends on a character
// boundary (escaped text is valid UTF-8).
func cut(b []byte, room int) int {
	n := room
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	if n == 0 {
		return room
	}
	return n
}
