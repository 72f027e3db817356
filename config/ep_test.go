package config

import (
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseEP(t *testing.T) {
	max := time.Duration(1<<63 - 1)
	for _, tc := range []struct {
		name  string
		env   []string
		want  EP
		warns int
	}{
		{"defaults", nil, defaultEP, 0},
		{"grace", []string{"EP_GRACE_SECONDS", "3"}, EP{Grace: 3 * time.Second, ExitBase: 128, Backoff: time.Second}, 0},
		{"grace zero", []string{"EP_GRACE_SECONDS", "0"}, EP{ExitBase: 128, Backoff: time.Second}, 0},
		{"grace clamped", []string{"EP_GRACE_SECONDS", "18446744073709551615"}, EP{Grace: max, ExitBase: 128, Backoff: time.Second}, 1},
		{"grace overflow", []string{"EP_GRACE_SECONDS", "18446744073709551616"}, defaultEP, 1},
		{"grace negative", []string{"EP_GRACE_SECONDS", "-1"}, defaultEP, 1},
		{"grace plus", []string{"EP_GRACE_SECONDS", "+5"}, defaultEP, 1},
		{"grace blank", []string{"EP_GRACE_SECONDS", " 5"}, defaultEP, 1},
		{"grace empty", []string{"EP_GRACE_SECONDS", ""}, defaultEP, 1},
		{"base 200", []string{"EP_EXIT_CODE_BASE", "200"}, EP{Grace: 10 * time.Second, ExitBase: 200, Backoff: time.Second}, 0},
		{"base 0", []string{"EP_EXIT_CODE_BASE", "0"}, EP{Grace: 10 * time.Second, ExitBase: 0, Backoff: time.Second}, 0},
		{"base 255", []string{"EP_EXIT_CODE_BASE", "255"}, EP{Grace: 10 * time.Second, ExitBase: 255, Backoff: time.Second}, 0},
		{"base 256", []string{"EP_EXIT_CODE_BASE", "256"}, defaultEP, 1},
		{"base word", []string{"EP_EXIT_CODE_BASE", "abc"}, defaultEP, 1},
		{"restart", []string{"EP_RESTART_ENABLED", "1", "EP_MAX_RESTARTS", "5", "EP_RESTART_BACKOFF_SECONDS", "2"},
			EP{Grace: 10 * time.Second, ExitBase: 128, Restart: true, MaxRestarts: 5, Backoff: 2 * time.Second}, 0},
		{"restart yes", []string{"EP_RESTART_ENABLED", "yes"}, defaultEP, 1},
		{"restart 0", []string{"EP_RESTART_ENABLED", "0"}, defaultEP, 0},
		{"max restarts overflow", []string{"EP_MAX_RESTARTS", "99999999999"}, defaultEP, 1},
		{"subreaper", []string{"EP_SUBREAPER", "1"}, EP{Grace: 10 * time.Second, ExitBase: 128, Backoff: time.Second, Subreaper: true}, 0},
		{"signals", []string{"EP_SIGNALS", "USR1, 24"}, EP{Grace: 10 * time.Second, ExitBase: 128, Backoff: time.Second,
			Signals: []syscall.Signal{syscall.SIGUSR1, syscall.SIGXCPU}}, 0},
		{"rt", []string{"EP_SIGRTMIN", "34", "EP_SIGRTMAX", "64", "EP_SIGNALS", "RT1,RT30"}, EP{Grace: 10 * time.Second, ExitBase: 128, Backoff: time.Second,
			Signals: []syscall.Signal{35, 64}}, 0},
		{"rt bad range", []string{"EP_SIGRTMIN", "40", "EP_SIGRTMAX", "35", "EP_SIGNALS", "RT1"}, defaultEP, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, warns := ParseEP(env(tc.env...))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if len(warns) != tc.warns {
				t.Errorf("warnings %q, want %d", warns, tc.warns)
			}
		})
	}
}

func TestParseSignals(t *testing.T) {
	rt := []int{34, 64}
	for _, tc := range []struct {
		in    string
		rt    []int
		want  []syscall.Signal
		warns []string
	}{
		{"", nil, nil, nil},
		{",,", nil, nil, nil},
		{"USR1", nil, []syscall.Signal{10}, nil},
		{"USR1,USR2,PIPE,WINCH,TTIN,TTOU,CONT,ALRM", nil, []syscall.Signal{10, 12, 13, 28, 21, 22, 18, 14}, nil},
		{" USR1 , USR1 ,10", nil, []syscall.Signal{10}, nil},
		{"usr1", nil, nil, []string{"unknown signal name"}},
		{"SIGUSR1", nil, nil, []string{"unknown signal name"}},
		{"FOO,USR2", nil, []syscall.Signal{12}, []string{"unknown"}},
		{"9", nil, nil, []string{"cannot be caught"}},
		{"19", nil, nil, []string{"cannot be caught"}},
		{"0", nil, nil, []string{"out of 1..64"}},
		{"65", nil, nil, []string{"out of 1..64"}},
		{"64", nil, []syscall.Signal{64}, nil},
		{"99999999999999999999", nil, nil, []string{"unknown signal name"}},
		{"RT1", nil, nil, []string{"RT* EP_SIGNALS tokens require EP_SIGRTMIN"}},
		{"RT1,RT5", rt, []syscall.Signal{35, 39}, nil},
		{"RT0", rt, nil, []string{"RT1..RT30"}},
		{"RT31", rt, nil, []string{"RT1..RT30"}},
		{"RT30", []int{34, 60}, nil, []string{"above EP_SIGRTMAX"}},
		{"RT", rt, nil, []string{"unknown"}},
	} {
		got, warns := parseSignals(tc.in, tc.rt)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseSignals(%q) = %v, want %v", tc.in, got, tc.want)
		}
		if len(warns) != len(tc.warns) {
			t.Errorf("parseSignals(%q) warnings %q, want %q", tc.in, warns, tc.warns)
			continue
		}
		for i, w := range tc.warns {
			if !strings.Contains(warns[i], w) {
				t.Errorf("parseSignals(%q) warning %q lacks %q", tc.in, warns[i], w)
			}
		}
	}
}

// TestMiniInitWords: the warnings carry mini-init-asm's own words, which
// scripts written against it grep for.
func TestMiniInitWords(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"EP_GRACE_SECONDS", "soon"}, "invalid EP_GRACE_SECONDS; using default"},
		{[]string{"EP_GRACE_SECONDS", "99999999999999999999"}, "invalid EP_GRACE_SECONDS; using default"},
		{[]string{"EP_GRACE_SECONDS", "18446744073709551615"}, "EP_GRACE_SECONDS too large; clamping"},
		{[]string{"EP_RESTART_BACKOFF_SECONDS", "-1"}, "invalid EP_RESTART_BACKOFF_SECONDS; using default"},
		{[]string{"EP_RESTART_BACKOFF_SECONDS", "9223372036854775807"}, "EP_RESTART_BACKOFF_SECONDS too large; clamping"},
		{[]string{"EP_MAX_RESTARTS", "x"}, "invalid EP_MAX_RESTARTS; using default"},
		{[]string{"EP_EXIT_CODE_BASE", "256"}, "invalid EP_EXIT_CODE_BASE; using default"},
		{[]string{"EP_PIDS_MAX", "1e3"}, "invalid EP_PIDS_MAX; using default"},
		{[]string{"EP_SIGNALS", "USR1,INVALID"}, "Unknown EP_SIGNALS token"},
		{[]string{"EP_SIGNALS", "THISISAVERYLONGTOKENTHATEXCEEDSTHEBUFFER"}, "Unknown EP_SIGNALS token"},
		{[]string{"EP_SIGRTMIN", "34", "EP_SIGRTMAX", "64", "EP_SIGNALS", "RT5X"}, "Unknown EP_SIGNALS token"},
		{[]string{"EP_SIGNALS", "RT1"}, "RT* EP_SIGNALS tokens require EP_SIGRTMIN"},
	} {
		_, warns := ParseEP(env(tc.env...))
		if len(warns) != 1 || !strings.Contains(warns[0], tc.want) {
			t.Errorf("%q: warnings %q, want one with %q", tc.env, warns, tc.want)
		}
	}
}
