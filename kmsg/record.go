// Package kmsg writes init's own log lines and its stages' stderr to the
// kernel log through /dev/kmsg, one record per line (see
// Documentation/ABI/testing/dev-kmsg): "<L>tag: text".
package kmsg

import (
	"strconv"
	"unicode/utf8"
)

// Syslog levels used by init (syslog(2)): crit for internal faults, err
// for stage and kexec failures, warning for refused input and failed
// mounts, info for the lifecycle, debug (with -v) for every signal and timer.
const (
	Crit    = 2
	Err     = 3
	Warning = 4
	Info    = 6
	Debug   = 7
)

// MaxRecord is the largest record written in one write(2), prefix and
// newline included. Kernels before 6.6 refuse writes over LOG_LINE_MAX
// (1024 - 32 bytes) with EINVAL; later ones allow 1024. Staying under both
// means no line is ever rejected for its length.
const MaxRecord = 976

// ParseLevel splits a leading "<N>" (N a syslog level 0-7) off line. It
// returns def and the line unchanged when there is none.
func ParseLevel(line []byte, def int) (int, []byte) {
	if len(line) >= 3 && line[0] == '<' && line[1] >= '0' && line[1] <= '7' && line[2] == '>' {
		return int(line[1] - '0'), line[3:]
	}
	return def, line
}

// Escape makes text safe for one kmsg record: NUL and other control bytes
// except tab, and bytes that are not valid UTF-8, become \xNN; nothing is
// dropped.
func Escape(text []byte) []byte {
	out := make([]byte, 0, len(text))
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRune(text[i:])
		if (r == utf8.RuneError && n <= 1) || (r < 0x20 && r != '\t') || r == 0x7f {
			out = append(out, '\\', 'x', hexdigit[text[i]>>4], hexdigit[text[i]&0xf])
			i++
			continue
		}
		out = append(out, text[i:i+n]...)
		i += n
	}
	return out
}

const hexdigit = "0123456789abcdef"

// Records formats one line of text (without its newline) as one or more
// kmsg records "<L>prefix: chunk\n", each at most max bytes, split only on
// UTF-8 character boundaries. The text is escaped first. An empty line
// gives one record with an empty body.
func Records(level int, prefix string, text []byte, max int) [][]byte {
	head := "<" + strconv.Itoa(level) + ">" + prefix + ": "
	room := max - len(head) - 1
	if room < 4 {
		room = 4
	}
	body := Escape(text)
	var recs [][]byte
	for first := true; first || len(body) > 0; first = false {
		n := len(body)
		if n > room {
			n = cut(body, room)
		}
		rec := make([]byte, 0, len(head)+n+1)
		rec = append(rec, head...)
		rec = append(rec, body[:n]...)
		rec = append(rec, '\n')
		recs = append(recs, rec)
		body = body[n:]
	}
	return recs
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
