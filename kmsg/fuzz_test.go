package kmsg

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// unescape reverses appendEscaped.
func unescape(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+3 < len(b) && b[i+1] == 'x' {
			if n, err := strconv.ParseUint(string(b[i+2:i+4]), 16, 8); err == nil {
				out, i = append(out, byte(n)), i+3
				continue
			}
		}
		out = append(out, b[i])
	}
	return out
}

// FuzzRecords: an escaped line is valid UTF-8 without control bytes and
// unescapes to the line (a backslash before "x" and two hex digits is the
// one ambiguity, left out); its records are each at most max bytes, have
// the level and prefix, and their bodies put back together are the
// escaped line.
func FuzzRecords(f *testing.F) {
	for _, s := range []string{"", "plain", "<3>level", "tab\tand\x00nul", "\xff\xfe bad utf-8", strings.Repeat("é", 600)} {
		f.Add([]byte(s), 976)
	}
	f.Fuzz(func(t *testing.T, line []byte, max int) {
		if max < 0 || max > 4096 || bytes.Contains(line, []byte(`\x`)) {
			return
		}
		level, text := parseLevel(line, lvInfo)
		if level < 0 || level > 7 || !bytes.HasSuffix(line, text) {
			t.Fatalf("%q: level %d text %q", line, level, text)
		}
		esc := appendEscaped(nil, text)
		if !utf8.Valid(esc) || bytes.ContainsAny(esc, "\x00\n\r\x7f") || !bytes.Equal(unescape(esc), text) {
			t.Fatalf("%q: escaped %q", text, esc)
		}
		recs := appendRecords(nil, level, "boot[1]", esc, max)
		var body []byte
		head := "<" + strconv.Itoa(level) + ">boot[1]: "
		for _, r := range bytes.SplitAfter(recs, []byte("\n")) {
			if len(r) == 0 {
				continue
			}
			if max >= len(head)+5 && len(r) > max {
				t.Fatalf("record of %d bytes over %d", len(r), max)
			}
			if !bytes.HasPrefix(r, []byte(head)) || !bytes.HasSuffix(r, []byte("\n")) {
				t.Fatalf("record %q", r)
			}
			body = append(body, r[len(head):len(r)-1]...)
		}
		if !bytes.Equal(body, esc) {
			t.Fatalf("records put back together: %q, want %q", body, esc)
		}
	})
}
