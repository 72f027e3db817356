package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  a  b\tc\n", []string{"a", "b", "c"}},
		{`env.MSG="hello world" x`, []string{"env.MSG=hello world", "x"}},
		{`"quoted word" y`, []string{"quoted word", "y"}},
		{`a="" b`, []string{"a=", "b"}},
		{`a=x"y z"w`, []string{`a=x"y z"w`}},
		{`unterminated="a b`, []string{"unterminated=a b"}},
		{`-- /bin/app "two words" -x`, []string{"--", "/bin/app", "two words", "-x"}},
	} {
		got, starts := Split(tc.in)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Split(%q) = %q, want %q", tc.in, got, tc.want)
		}
		for i, at := range starts { // each word starts where its text (or its opening quote) does
			if w := strings.TrimPrefix(tc.in[at:], `"`); !strings.HasPrefix(w, strings.SplitN(got[i], "=", 2)[0]) {
				t.Errorf("Split(%q): word %d %q at offset %d", tc.in, i, got[i], at)
			}
		}
	}
}

func TestParseCmdline(t *testing.T) {
	long := strings.Repeat("K", 129)
	for _, tc := range []struct {
		name  string
		in    string
		want  Cmdline
		warns []string
	}{
		{"kernel words only", "console=ttyS0 quiet panic=-1", Cmdline{}, nil},
		{"env and workdir", `env.PORT=8080 env.MSG="a b" workdir=/app -- nginx -g "daemon off;"`,
			Cmdline{Env: []string{"PORT=8080", "MSG=a b"}, Workdir: "/app", Command: []string{"nginx", "-g", "daemon off;"}}, nil},
		{"empty value", "env.EMPTY=", Cmdline{Env: []string{"EMPTY="}}, nil},
		{"no equals", "env.FLAG", Cmdline{Env: []string{"FLAG="}}, nil},
		{"duplicates kept in order (last wins in Merge)", "env.A=1 env.A=2", Cmdline{Env: []string{"A=1", "A=2"}}, nil},
		{"invalid keys", "env.1X=a env.A-B=b env." + long + "=c env._ok=d", Cmdline{Env: []string{"_ok=d"}},
			[]string{"env.1X=a", "env.A-B=b", "longer than 128"}},
		{"128-byte key ok", "env." + long[:128] + "=v", Cmdline{Env: []string{long[:128] + "=v"}}, nil},
		{"oversize value", "env.BIG=" + strings.Repeat("v", 4097), Cmdline{}, []string{"longer than 4096"}},
		{"4096-byte value ok", "env.BIG=" + strings.Repeat("v", 4096), Cmdline{Env: []string{"BIG=" + strings.Repeat("v", 4096)}}, nil},
		{"relative workdir", "workdir=app", Cmdline{}, []string{"not absolute"}},
		{"unclean workdir", "workdir=/app/../etc", Cmdline{}, []string{"not absolute and clean"}},
		{"trailing slash workdir", "workdir=/app/", Cmdline{}, []string{"not absolute and clean"}},
		{"devkmsg", "printk.devkmsg=ratelimit", Cmdline{DevkmsgSet: true}, nil},
		{"words after -- are the command", "quiet -- /bin/app env.X=1 workdir=/x", Cmdline{Command: []string{"/bin/app", "env.X=1", "workdir=/x"}}, nil},
		{"bare --", "quiet --", Cmdline{Command: []string{}}, nil},
		{"watchdog", "stageinit.watchdog=30 stageinit.kexec_watchdog=0", Cmdline{Watchdog: ptr(30), KexecWatchdog: ptr(0)}, nil},
		{"reboot timeout", "stageinit.reboot_timeout=0", Cmdline{RebootTimeout: ptr(0)}, nil},
		{"exit by reboot", "stageinit.exit=reboot", Cmdline{Exit: "reboot"}, nil},
		{"exit by isa-debug-exit", "stageinit.exit=isa-debug-exit", Cmdline{Exit: "isa-debug-exit", ExitPort: 0xf4}, nil},
		{"exit by isa-debug-exit on a port", "stageinit.exit=isa-debug-exit:0x501", Cmdline{Exit: "isa-debug-exit", ExitPort: 0x501}, nil},
		{"exit unknown", "stageinit.exit=isa-debug-exit:70000 stageinit.exit=halt", Cmdline{},
			[]string{"stageinit.exit=isa-debug-exit:70000", "stageinit.exit=halt"}},
		{"reboot timeout as a plain word, the last wins", "stageinit.reboot_timeout=5 STAGEINIT_REBOOT_TIMEOUT=120",
			Cmdline{RebootTimeout: ptr(120)}, nil},
		{"reboot timeout not a number", "stageinit.reboot_timeout=1m", Cmdline{}, []string{"stageinit.reboot_timeout=1m"}},
		{"watchdog not a number", "stageinit.watchdog=-1 stageinit.kexec_watchdog=2m stageinit.watchdog=4294967296", Cmdline{},
			[]string{"stageinit.watchdog=-1", "stageinit.kexec_watchdog=2m", "stageinit.watchdog=4294967296"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, warns := ParseCmdline(tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			wantWarnings(t, warns, tc.warns)
		})
	}
	if _, w := ParseCmdline("env.NUL=a\x00b"); len(w) != 1 || !strings.Contains(w[0], "NUL") {
		t.Errorf("NUL value: %q", w)
	}
}

func TestParseMetadata(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    string
		want  Metadata
		warns []string
	}{
		{"full", `{"env": {"PORT": "8080", "DEBUG": "true"}, "working_dir": "/app"}`,
			Metadata{Env: []string{"DEBUG=true", "PORT=8080"}, Workdir: "/app"}, nil},
		{"empty object", `{}`, Metadata{}, nil},
		{"invalid JSON", `{"env": `, Metadata{}, []string{"not a JSON object"}},
		{"not an object", `[1,2]`, Metadata{}, []string{"not a JSON object"}},
		{"env wrong type", `{"env": ["A=1"], "working_dir": "/x"}`, Metadata{Workdir: "/x"}, []string{`"env" is not an object of strings`}},
		{"env value wrong type", `{"env": {"A": 1}}`, Metadata{}, []string{`"env" is not an object of strings`}},
		{"workdir wrong type", `{"working_dir": 5}`, Metadata{}, []string{`"working_dir" is not a string`}},
		{"workdir relative", `{"working_dir": "app"}`, Metadata{}, []string{"working_dir ignored"}},
		{"unknown fields", `{"env": {"A": "1"}, "entrypoint": "/x", "zzz": 1}`, Metadata{Env: []string{"A=1"}},
			[]string{`unknown field "entrypoint"`, `unknown field "zzz"`}},
		{"bad keys skipped", `{"env": {"1X": "a", "A-B": "b", "OK": "c", "NUL": "a\u0000b"}}`, Metadata{Env: []string{"OK=c"}},
			[]string{`"1X"`, `"A-B"`, `"NUL"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, warns := ParseMetadata([]byte(tc.in))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			wantWarnings(t, warns, tc.warns)
		})
	}
	big := `{"env": {"A": "` + strings.Repeat("x", MaxMetadata) + `"}}`
	if m, w := ParseMetadata([]byte(big)); len(m.Env) != 0 || len(w) != 1 || !strings.Contains(w[0], "more than") {
		t.Errorf("oversize metadata: %+v %q", m, w)
	}
}

func TestMerge(t *testing.T) {
	env, dir := Merge([]string{"PATH=/bin", "A=init", "B=init"},
		Metadata{Env: []string{"A=meta", "C=meta"}, Workdir: "/meta"},
		Cmdline{Env: []string{"B=cmd", "D=cmd", "D=cmd2"}, Workdir: "/cmd"})
	want := []string{"PATH=/bin", "A=meta", "B=cmd", "C=meta", "D=cmd2"}
	if !reflect.DeepEqual(env, want) || dir != "/cmd" {
		t.Errorf("Merge = %q %q, want %q /cmd", env, dir, want)
	}
	if _, dir := Merge(nil, Metadata{Workdir: "/meta"}, Cmdline{}); dir != "/meta" {
		t.Errorf("metadata workdir lost: %q", dir)
	}
}

// wantWarnings checks that each warning contains the wanted text, in order.
func wantWarnings(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("warnings %q, want %q", got, want)
	}
	for i, w := range want {
		if !strings.Contains(got[i], w) {
			t.Errorf("warning %q lacks %q", got[i], w)
		}
	}
}

func ptr(n int) *int { return &n }
