package hardware

import (
	"encoding/binary"
	"io"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stageinit/stageinit/kmsg"
)

// record is a struct input_event of a 64-bit kernel.
func record(typ, code uint16, value int32) []byte {
	b := make([]byte, eventSize)
	binary.LittleEndian.PutUint64(b, 1700000000)
	binary.LittleEndian.PutUint16(b[16:], typ)
	binary.LittleEndian.PutUint16(b[18:], code)
	binary.LittleEndian.PutUint32(b[20:], uint32(value))
	return b
}

// stream hands out its chunks one Read at a time, then err.
type stream struct {
	chunks [][]byte
	err    error
}

func (s *stream) Read(p []byte) (int, error) {
	if len(s.chunks) == 0 {
		return 0, s.err
	}
	n := copy(p, s.chunks[0])
	if s.chunks[0] = s.chunks[0][n:]; len(s.chunks[0]) == 0 {
		s.chunks = s.chunks[1:]
	}
	return n, nil
}

type lines struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func join(recs ...[]byte) []byte {
	var b []byte
	for _, r := range recs {
		b = append(b, r...)
	}
	return b
}

// TestReadPresses: a press is one; releases, repeats, other keys and
// other event types are not; records split across reads still count; a
// flood is one press; the end of the device is one log line.
func TestReadPresses(t *testing.T) {
	press, release, repeat := record(evKey, keyPower, 1), record(evKey, keyPower, 0), record(evKey, keyPower, 2)
	sync := record(0, 0, 0)
	flood := make([][]byte, 500)
	for i := range flood {
		flood[i] = join(press, sync, release, sync)
	}
	for _, tc := range []struct {
		name    string
		chunks  [][]byte
		err     error
		presses int
		log     string
	}{
		{"press and release", [][]byte{join(press, sync, release, sync)}, syscall.ENODEV, 1, "went away"},
		{"release, repeat, other keys", [][]byte{join(release, repeat, record(evKey, keyA, 1), record(evKey, 117, 1), record(2, keyPower, 1))}, io.EOF, 0, "read /dev/input/event9: EOF: no longer watched"},
		{"short reads", [][]byte{press[:5], press[5:17], press[17:], release[:23]}, syscall.EIO, 1, "input/output error"},
		{"a flood", flood, syscall.ENODEV, 1, "went away"},
		{"a torn record at the end", [][]byte{press[:23]}, syscall.ENODEV, 0, "went away"},
	} {
		var out lines
		log := kmsg.NewLogger(&out, false, nil)
		presses := make(chan string, 10)
		readPresses(&stream{chunks: tc.chunks, err: tc.err}, "/dev/input/event9", log, presses)
		log.Flush(1e9)
		if len(presses) != tc.presses {
			t.Errorf("%s: %d presses, want %d", tc.name, len(presses), tc.presses)
		}
		if n := strings.Count(out.String(), "\n"); n != 1 || !strings.Contains(out.String(), tc.log) {
			t.Errorf("%s: log %q, want one line with %q", tc.name, out.String(), tc.log)
		}
	}
}

// FuzzPressed: any bytes are a press only as the record of one.
func FuzzPressed(f *testing.F) {
	f.Add(record(evKey, keyPower, 1))
	f.Add(record(evKey, keyPower, 0))
	f.Add(make([]byte, eventSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < eventSize {
			return
		}
		rec := b[:eventSize]
		want := string(rec[16:]) == string(record(evKey, keyPower, 1)[16:])
		if pressed(rec) != want {
			t.Errorf("pressed(%x) = %v", rec, !want)
		}
	})
}
