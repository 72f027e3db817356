package kmsg

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseLevel(t *testing.T) {
	for _, tc := range []struct {
		in    string
		level int
		rest  string
	}{
		{"<3>boom", 3, "boom"},
		{"<0>x", 0, "x"},
		{"<7>", 7, ""},
		{"<8>x", 6, "<8>x"},
		{"<12>x", 6, "<12>x"},
		{"<3", 6, "<3"},
		{"plain", 6, "plain"},
		{"", 6, ""},
	} {
		l, rest := parseLevel([]byte(tc.in), lvInfo)
		if l != tc.level || string(rest) != tc.rest {
			t.Errorf("parseLevel(%q) = %d %q, want %d %q", tc.in, l, rest, tc.level, tc.rest)
		}
	}
}

func TestEscape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"hello", "hello"},
		{"a\x00b", `a\x00b`},
		{"tab\tok", "tab\tok"},
		{"bell\x07", `bell\x07`},
		{"del\x7f", `del\x7f`},
		{"caf\xc3\xa9", "café"},
		{"bad\xff\xfe", `bad\xff\xfe`},
		{"trunc\xe2\x82", `trunc\xe2\x82`},
		{"\r", `\x0d`},
	} {
		if got := string(appendEscaped(nil, []byte(tc.in))); got != tc.want {
			t.Errorf("appendEscaped(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// joinBodies strips the head and newline of each record and concatenates.
func joinBodies(t *testing.T, recs [][]byte, head string, max int) string {
	t.Helper()
	var b strings.Builder
	for _, r := range recs {
		if len(r) > max {
			t.Errorf("record of %d bytes > %d", len(r), max)
		}
		if !bytes.HasPrefix(r, []byte(head)) || r[len(r)-1] != '\n' {
			t.Fatalf("record %q lacks head %q or newline", r, head)
		}
		body := r[len(head) : len(r)-1]
		if !utf8.Valid(body) {
			t.Errorf("record body not valid UTF-8: %q", body)
		}
		b.Write(body)
	}
	return b.String()
}

func TestRecordsBoundaries(t *testing.T) {
	const head = "<6>boot[42]: "
	// room for the body in a 1024-byte record
	room := 1024 - len(head) - 1
	for _, tc := range []struct {
		name string
		text string
		recs int
	}{
		{"empty", "", 1},
		{"1023 total", strings.Repeat("a", 1023-len(head)-1), 1},
		{"1024 total", strings.Repeat("a", room), 1},
		{"1025 total", strings.Repeat("a", room+1), 2},
		{"euro at split", strings.Repeat("a", room-1) + "€" + "b", 2},
		{"euro ends at split", strings.Repeat("a", room-3) + "€", 1},
		{"4-byte at split", strings.Repeat("a", room-2) + "😀", 2},
		{"NUL at split", strings.Repeat("a", room-1) + "\x00", 2},
		{"10 KiB", strings.Repeat("xyz", 10<<10/3), 11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs := records(lvInfo, "boot[42]", []byte(tc.text), 1024)
			if len(recs) != tc.recs {
				t.Errorf("%d records, want %d", len(recs), tc.recs)
			}
			got := joinBodies(t, recs, head, 1024)
			if want := string(appendEscaped(nil, []byte(tc.text))); got != want {
				t.Errorf("bodies joined differ from the escaped line (%d vs %d bytes)", len(got), len(want))
			}
		})
	}
}

func TestRecordsDefaultMax(t *testing.T) {
	line := strings.Repeat("é", 3000)
	recs := records(lvErr, "reboot[7]", []byte(line), maxRecord)
	if got := joinBodies(t, recs, "<3>reboot[7]: ", maxRecord); got != line {
		t.Errorf("line not preserved across %d records", len(recs))
	}
	if len(recs) < 6 {
		t.Errorf("%d records for 6000 bytes", len(recs))
	}
}

// records is the records of one line of text, one string each.
func records(level int, prefix string, text []byte, max int) [][]byte {
	var recs [][]byte
	b := appendRecords(nil, level, prefix, appendEscaped(nil, text), max)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n') + 1
		recs, b = append(recs, b[:i]), b[i:]
	}
	return recs
}

// TestRelayAllocations: relaying a line allocates nothing once the
// relay's buffers have grown (init's RSS stays flat under a flood).
func TestRelayAllocations(t *testing.T) {
	rl := &Relay{w: io.Discard, kmsgStyle: true, tag: "boot[42]"}
	line := []byte("<3>a line of stderr with a \x00 NUL and \xff invalid UTF-8, " + strings.Repeat("long ", 300))
	rl.emit(line)
	if n := testing.AllocsPerRun(100, func() { rl.emit(line) }); n != 0 {
		t.Errorf("%v allocations per relayed line, want 0", n)
	}
}
