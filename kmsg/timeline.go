package kmsg

import (
	"strconv"
	"time"
)

// Timeline is the boot path as marks, in milliseconds since init's main
// began (monotonic clock), for one log line: where the time between the
// kernel's exec of /init and the first stage goes.
type Timeline struct {
	Begin time.Time
	line  []byte
}

// Mark notes that step has just ended.
func (t *Timeline) Mark(step string) {
	if len(t.line) > 0 {
		t.line = append(t.line, ", "...)
	}
	t.line = append(append(t.line, step...), ' ')
	t.line = strconv.AppendFloat(t.line, float64(time.Since(t.Begin).Microseconds())/1000, 'f', 1, 64)
}

// String is the marks so far, "signals 0.3, mount /dev 1.2, ...".
func (t *Timeline) String() string { return string(t.line) }
