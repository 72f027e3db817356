package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sup runs `init [flags] -- bash -c script` in supervisor mode as a user
// would, with env added. It returns the process so tests can signal it.
type sup struct {
	cmd    *exec.Cmd
	out    buffer
	errb   buffer
	done   chan struct{}
	code   int
	elapse time.Duration
}

// buffer is a bytes.Buffer that a test may read while a process writes.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// await polls b for s, at most d (stretched by the calibration).
func (b *buffer) await(t *testing.T, s string, d time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(stretch(d)); !strings.Contains(b.String(), s); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never saw %q in %q", s, b.String())
		}
	}
}

func startSup(t *testing.T, env []string, script string, flags ...string) *sup {
	t.Helper()
	args := append(flags, "--", "bash", "-c", script)
	s := &sup{cmd: exec.Command(initBin, args...), done: make(chan struct{})}
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.errb
	begin := time.Now()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.cmd.Wait()
		s.code = s.cmd.ProcessState.ExitCode()
		s.elapse = time.Since(begin)
		close(s.done)
	}()
	t.Cleanup(func() { s.cmd.Process.Kill(); <-s.done })
	return s
}

func (s *sup) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-s.done:
		return s.code
	case <-time.After(stretch(d)):
		s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
		t.Fatalf("init did not exit within %v; stdout %q stderr %q", d, s.out.String(), s.errb.String())
		return -1
	}
}

// waitFor polls for a file the child writes when it is ready, at most 5 s
// (stretched by the calibration).
func waitFor(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(stretch(5 * time.Second)); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
	}
}

// waitForText polls a file until it holds every one of wants, at most 5 s
// (stretched).
func waitForText(t *testing.T, path string, wants ...string) {
	t.Helper()
	for deadline := time.Now().Add(stretch(5 * time.Second)); ; time.Sleep(10 * time.Millisecond) {
		got, _ := os.ReadFile(path)
		missing := slices.ContainsFunc(wants, func(w string) bool { return !strings.Contains(string(got), w) })
		if !missing {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %q, want all of %q", path, got, wants)
		}
	}
}

func runSup(t *testing.T, env []string, script string) *sup {
	s := startSup(t, env, script)
	s.wait(t, 30*time.Second)
	return s
}

func TestSupervisorExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		env    []string
		script string
		want   int
	}{
		{"exit 0", nil, "exit 0", 0},
		{"exit 3", nil, "exit 3", 3},
		{"killed by SEGV", nil, "kill -SEGV $$", 139},
		{"killed by KILL", nil, "kill -KILL $$", 137},
		{"base 200 KILL", []string{"EP_EXIT_CODE_BASE=200"}, "kill -KILL $$", 209},
		{"base 0 TERM", []string{"EP_EXIT_CODE_BASE=0"}, "kill -TERM $$", 15},
		{"base invalid", []string{"EP_EXIT_CODE_BASE=abc"}, "kill -KILL $$", 137},
		{"base out of range", []string{"EP_EXIT_CODE_BASE=256"}, "kill -KILL $$", 137},
		{"base negative", []string{"EP_EXIT_CODE_BASE=-1"}, "kill -KILL $$", 137},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := runSup(t, tc.env, tc.script)
			if s.code != tc.want {
				t.Errorf("exit %d, want %d (stderr %q)", s.code, tc.want, s.errb.String())
			}
		})
	}
}

func TestSupervisorCLI(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"-V"}, 0, "stageinit"},
		{[]string{"--version", "--", "false"}, 0, "stageinit"},
		{nil, 2, "usage"},
		{[]string{"-v"}, 2, "usage"},
		{[]string{"--bogus", "--", "true"}, 2, "unknown argument"},
		{[]string{"--", "/nonexistent/cmd"}, 127, "not found"},
		{[]string{"--", "no-such-command-xyz"}, 127, "not found"},
		{[]string{"--", "/etc/passwd"}, 126, "permission denied"},
		{[]string{"--", "/"}, 126, ""},
	} {
		cmd := exec.Command(initBin, tc.args...)
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != tc.code || !strings.Contains(string(out), tc.out) {
			t.Errorf("init %q: exit %d output %q, want %d and %q", tc.args, code, out, tc.code, tc.out)
		}
	}
}

func TestGracefulTerm(t *testing.T) {
	dir := t.TempDir()
	s := startSup(t, nil, `trap 'echo got TERM; exit 0' TERM; touch `+dir+`/ready; while :; do sleep 0.1; done`)
	waitFor(t, dir+"/ready")
	s.cmd.Process.Signal(syscall.SIGTERM)
	if code := s.wait(t, 10*time.Second); code != 0 || !strings.Contains(s.out.String(), "got TERM") {
		t.Errorf("exit %d stdout %q, want 0 and 'got TERM'", code, s.out.String())
	}
}

// TestEscalation: the first soft signal arms the grace timer, a second
// one does not arm it again, and at its end the group gets SIGKILL.
func TestEscalation(t *testing.T) {
	dir := t.TempDir()
	s := startSup(t, []string{"EP_GRACE_SECONDS=1"}, `trap '' TERM INT; touch `+dir+`/ready; while :; do sleep 0.1; done`, "-v")
	waitFor(t, dir+"/ready")
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.errb.await(t, "grace timer armed: 1s", 5*time.Second)
	s.cmd.Process.Signal(syscall.SIGINT) // a second soft signal must not arm it again
	if code := s.wait(t, 10*time.Second); code != 137 {
		t.Errorf("exit %d, want 137", code)
	}
	for _, want := range []string{"received terminated", "received interrupt", "grace timer armed: 1s", "SIGKILL to group"} {
		if !strings.Contains(s.errb.String(), want) {
			t.Errorf("verbose log lacks %q: %s", want, s.errb.String())
		}
	}
	if n := strings.Count(s.errb.String(), "grace timer armed"); n != 1 {
		t.Errorf("grace timer armed %d times, want once: %s", n, s.errb.String())
	}
}

// TestForwarding sends signals the child traps and records; each must
// arrive at every member of the group (the child and a subshell).
func TestForwarding(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		sig  syscall.Signal
		trap string
	}{
		{"USR1 default", nil, syscall.SIGUSR1, "USR1"},
		{"USR1 via EP_SIGNALS", []string{"EP_SIGNALS=USR1"}, syscall.SIGUSR1, "USR1"},
		{"WINCH default", nil, syscall.SIGWINCH, "WINCH"},
		{"numeric 24", []string{"EP_SIGNALS=24"}, syscall.SIGXCPU, "XCPU"},
		{"RT1", []string{"EP_SIGRTMIN=34", "EP_SIGRTMAX=64", "EP_SIGNALS=RT1"}, syscall.Signal(35), "RTMIN+1"},
		{"RT5 and numeric", []string{"EP_SIGRTMIN=34", "EP_SIGRTMAX=64", "EP_SIGNALS=12,RT5"}, syscall.Signal(39), "RTMIN+5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			script := `trap 'echo parent >> ` + dir + `/got; exit 0' ` + tc.trap + `
(trap 'echo sub >> ` + dir + `/got; exit 0' ` + tc.trap + `; touch ` + dir + `/sub; while :; do sleep 0.05; done) &
while [ ! -e ` + dir + `/sub ]; do sleep 0.01; done; touch ` + dir + `/ready; while :; do sleep 0.05; done`
			s := startSup(t, tc.env, script)
			waitFor(t, dir+"/ready")
			s.cmd.Process.Signal(tc.sig)
			if code := s.wait(t, 10*time.Second); code != 0 {
				t.Errorf("exit %d, want 0; stderr %q", code, s.errb.String())
			}
			waitForText(t, dir+"/got", "parent", "sub") // the subshell may outlive init by a moment
		})
	}
}

// TestNotForwarded: a signal outside the table is not forwarded (XCPU
// without EP_SIGNALS), and SIGURG never is. Once init has logged the XCPU
// (-v), a USR1 follows: init forwards in order, so anything it did with
// the XCPU reached the command before the USR1 did.
func TestNotForwarded(t *testing.T) {
	dir := t.TempDir()
	s := startSup(t, []string{"EP_SIGNALS=23"}, `trap 'echo xcpu >> `+dir+`/got' XCPU; trap 'echo urg >> `+dir+`/got' URG
trap 'echo usr1 >> `+dir+`/got' USR1; trap 'exit 0' TERM
touch `+dir+`/ready; while [ ! -e `+dir+`/stop ]; do sleep 0.05; done`, "-v")
	waitFor(t, dir+"/ready")
	s.cmd.Process.Signal(syscall.SIGXCPU)
	s.cmd.Process.Signal(syscall.SIGURG)
	s.errb.await(t, "signal=24", 5*time.Second)
	s.cmd.Process.Signal(syscall.SIGUSR1)
	waitForText(t, dir+"/got", "usr1")
	os.WriteFile(dir+"/stop", nil, 0o644)
	if code := s.wait(t, 10*time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
	if got, _ := os.ReadFile(dir + "/got"); string(got) != "usr1\n" {
		t.Errorf("child got %q, want usr1 alone", got)
	}
}

func TestEPSignalsWarnings(t *testing.T) {
	s := runSup(t, []string{"EP_SIGNALS=FOO, USR1,,9,RT1,99", "EP_GRACE_SECONDS=soon"}, "exit 0")
	for _, want := range []string{`"FOO" ignored`, `"9" ignored`, `"RT1" ignored`, `"99" ignored`, `EP_GRACE_SECONDS="soon" ignored`} {
		if !strings.Contains(s.errb.String(), want) {
			t.Errorf("stderr lacks %q: %s", want, s.errb.String())
		}
	}
	if strings.Contains(s.errb.String(), `"USR1"`) || s.code != 0 {
		t.Errorf("valid token warned about, or exit %d: %s", s.code, s.errb.String())
	}
}

// TestSubreaper: with EP_SUBREAPER=1 orphaned grandchildren are adopted and
// reaped; the child counts zombies whose parent is init before exiting.
func TestSubreaper(t *testing.T) {
	script := `for i in $(seq 50); do ( (sleep 0.1; exit 3) & ) ; done
sleep 1
n=0; for f in /proc/[0-9]*/stat; do read -r l < $f 2>/dev/null || continue; set -- ${l##*) }; [ "$1" = Z ] && [ "$2" = $PPID ] && n=$((n+1)); done
echo zombies=$n; c=0; for f in /proc/[0-9]*/stat; do read -r l < $f 2>/dev/null || continue; set -- ${l##*) }; [ "$2" = $PPID ] && c=$((c+1)); done
echo children=$c`
	s := runSup(t, []string{"EP_SUBREAPER=1"}, script)
	out := s.out.String()
	if s.code != 0 || !strings.Contains(out, "zombies=0") || !strings.Contains(out, "children=1") {
		t.Errorf("exit %d output %q: want no zombie, init's only child the main child", s.code, out)
	}
}

func TestSignalBurst(t *testing.T) {
	dir := t.TempDir()
	rec := buildGo(t, recorderSrc)
	cmd := exec.Command(initBin, "--", rec, dir)
	must(t, cmd.Start())
	waitFor(t, dir+"/ready")
	// No stop signal (TTIN, TTOU) in the mix: generating one discards a
	// pending SIGCONT, and the other way round (signal(7)).
	sigs := []syscall.Signal{syscall.SIGUSR1, syscall.SIGWINCH, syscall.SIGUSR2, syscall.SIGHUP,
		syscall.SIGALRM, syscall.SIGCONT, syscall.SIGQUIT, syscall.SIGINT, syscall.SIGPIPE}
	for i := 0; i < 500; i++ {
		cmd.Process.Signal(sigs[i%len(sigs)])
	}
	var names []string
	for _, s := range sigs {
		names = append(names, s.String()+"\n")
	}
	waitForText(t, dir+"/got", names...)
	os.WriteFile(dir+"/stop", nil, 0o644)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 5 {
		t.Errorf("exit %d after the burst, want the child's 5", code)
	}
}

// recorderSrc writes the name of each signal it gets, the first time, to
// DIR/got, and exits 5 once DIR/stop exists.
const recorderSrc = `package main

import (
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ch := make(chan os.Signal, 64)
	signal.Notify(ch, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2,
		syscall.SIGWINCH, syscall.SIGALRM, syscall.SIGCONT, syscall.SIGPIPE)
	got, _ := os.Create(os.Args[1] + "/got")
	os.WriteFile(os.Args[1]+"/ready", nil, 0o644)
	seen := map[os.Signal]bool{}
	for {
		select {
		case s := <-ch:
			if !seen[s] {
				seen[s] = true
				got.WriteString(s.String() + "\n")
			}
		case <-time.After(10 * time.Millisecond):
			if _, err := os.Stat(os.Args[1] + "/stop"); err == nil {
				os.Exit(5)
			}
		}
	}
}
`

func counter(dir string) string {
	return `echo run >> ` + dir + `/runs; n=$(wc -l < ` + dir + `/runs)`
}

func runs(t *testing.T, dir string) int {
	b, _ := os.ReadFile(filepath.Join(dir, "runs"))
	return strings.Count(string(b), "run")
}

func TestRestart(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     []string
		script  string
		code    int
		runs    int
		minTime time.Duration
		maxTime time.Duration
	}{
		{"limit", []string{"EP_RESTART_ENABLED=1", "EP_MAX_RESTARTS=2", "EP_RESTART_BACKOFF_SECONDS=0"},
			"kill -SEGV $$", 139, 3, 0, 10 * time.Second},
		{"backoff", []string{"EP_RESTART_ENABLED=1", "EP_MAX_RESTARTS=2", "EP_RESTART_BACKOFF_SECONDS=1"},
			"kill -ABRT $$", 134, 3, 2 * time.Second, 10 * time.Second},
		{"unlimited", []string{"EP_RESTART_ENABLED=1", "EP_MAX_RESTARTS=0", "EP_RESTART_BACKOFF_SECONDS=0"},
			`[ $n -ge 6 ] && exit 0; kill -KILL $$`, 0, 6, 0, 10 * time.Second},
		{"normal exit", []string{"EP_RESTART_ENABLED=1", "EP_RESTART_BACKOFF_SECONDS=0"},
			"exit 3", 3, 1, 0, 10 * time.Second},
		{"disabled", []string{"EP_MAX_RESTARTS=5", "EP_RESTART_BACKOFF_SECONDS=0"},
			"kill -SEGV $$", 139, 1, 0, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := runSup(t, tc.env, counter(dir)+"; "+tc.script)
			if s.code != tc.code || runs(t, dir) != tc.runs {
				t.Errorf("exit %d after %d runs, want %d after %d; stderr %q", s.code, runs(t, dir), tc.code, tc.runs, s.errb.String())
			}
			if s.elapse < tc.minTime || s.elapse > stretch(tc.maxTime) {
				t.Errorf("took %v, want between %v and %v", s.elapse, tc.minTime, tc.maxTime)
			}
		})
	}
}

// TestNoRestartAfterShutdown: a child killed by the forwarded TERM is not
// restarted even though restarts are on.
func TestNoRestartAfterShutdown(t *testing.T) {
	dir := t.TempDir()
	s := startSup(t, []string{"EP_RESTART_ENABLED=1", "EP_RESTART_BACKOFF_SECONDS=0"},
		counter(dir)+`; touch `+dir+`/ready; while :; do sleep 0.05; done`)
	waitFor(t, dir+"/ready")
	s.cmd.Process.Signal(syscall.SIGTERM)
	if code := s.wait(t, 10*time.Second); code != 143 || runs(t, dir) != 1 {
		t.Errorf("exit %d after %d runs, want 143 after 1", code, runs(t, dir))
	}
}

// TestShutdownDuringBackoff: TERM while waiting to restart ends init at
// once with the crashed child's status.
func TestShutdownDuringBackoff(t *testing.T) {
	dir := t.TempDir()
	s := startSup(t, []string{"EP_RESTART_ENABLED=1", "EP_RESTART_BACKOFF_SECONDS=30"},
		counter(dir)+`; touch `+dir+`/ready; kill -SEGV $$`)
	waitFor(t, dir+"/ready")
	s.errb.await(t, "restart 1 (backoff 30s)", 5*time.Second) // now in the backoff
	s.cmd.Process.Signal(syscall.SIGTERM)
	if code := s.wait(t, 10*time.Second); code != 139 || runs(t, dir) != 1 {
		t.Errorf("exit %d after %d runs, want 139 after 1", code, runs(t, dir))
	}
}

// TestStageHygiene: the child starts in its own session with default
// dispositions, an empty mask and no fds above 2, even when init inherits
// ignored signals (HUP, PIPE, PROF, 32, 33, 34) and an extra fd without
// close-on-exec.
func TestStageHygiene(t *testing.T) {
	ignorer := buildGo(t, ignorerSrc)
	f, err := os.CreateTemp(t.TempDir(), "leak")
	if err != nil {
		t.Fatal(err)
	}
	wrap := func(args ...string) string {
		cmd := exec.Command(ignorer, append([]string{f.Name(), initBin, "--"}, args...)...)
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	status := wrap("cat", "/proc/self/status")
	if !strings.Contains(status, "SigIgn:\t0000000000000000") || !strings.Contains(status, "SigBlk:\t0000000000000000") {
		t.Errorf("signal state not default:\n%s", status)
	}
	if out := wrap("cat", "/proc/self/fdinfo/7"); !strings.Contains(out, "No such file") {
		t.Errorf("fd 7 leaked into the stage: %q", out)
	}
	stat := strings.Fields(wrap("cat", "/proc/self/stat"))
	if len(stat) < 6 || stat[0] != stat[4] || stat[0] != stat[5] {
		t.Errorf("not a session and group leader (pid pgid sid): %v", stat[:min(6, len(stat))])
	}
}

// ignorerSrc ignores HUP, PIPE, PROF, 32, 33 and 34, opens its first
// argument as fd 7 (no close-on-exec) and execs the rest.
const ignorerSrc = `package main

import (
	"os"
	"syscall"
	"unsafe"
)

func main() {
	type sa struct{ h, f, r uintptr; m uint64 }
	ign := sa{h: 1}
	for _, s := range []uintptr{1, 13, 27, 32, 33, 34} {
		syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, s, uintptr(unsafe.Pointer(&ign)), 0, 8, 0, 0)
	}
	fd, _ := syscall.Open(os.Args[1], syscall.O_WRONLY, 0)
	syscall.Dup2(fd, 7)
	syscall.Exec(os.Args[2], os.Args[2:], os.Environ())
}
`

// buildGo builds a one-file helper program for a test.
func buildGo(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module helper\n"), 0o644))
	cmd := exec.Command("go", "build", "-o", "helper", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build helper: %v %s", err, out)
	}
	return filepath.Join(dir, "helper")
}

// TestSupervisorKeepsTheWorld: a command run under init from a shell sees
// what it sees without init: working directory, environment (no TERM or
// PATH added), umask and limits.
func TestSupervisorKeepsTheWorld(t *testing.T) {
	dir := t.TempDir()
	script := `echo "cwd $(pwd) umask $(umask) nofile $(ulimit -Sn)/$(ulimit -Hn) stack $(ulimit -Ss)"; env | sort`
	run := func(argv ...string) string {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir, cmd.Env = dir, []string{"FOO=bar", "HOME=/nowhere"}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%q: %v", argv, err)
		}
		return string(out)
	}
	old := syscall.Umask(0o027)
	defer syscall.Umask(old)
	direct := run("/bin/sh", "-c", script)
	under := run(initBin, "--", "/bin/sh", "-c", script)
	if under != direct || !strings.Contains(under, "cwd "+dir+" umask 0027") {
		t.Errorf("under init:\n%s\nwithout init:\n%s", under, direct)
	}
}

// TestMiniInitDiagnostics: with -v, the words mini-init-asm's own test
// scripts grep for (test_diagnostics.sh, test_ep_signals.sh).
func TestMiniInitDiagnostics(t *testing.T) {
	dir := t.TempDir()
	s := startSup(t, []string{"EP_GRACE_SECONDS=2"}, `trap 'exit 0' TERM; touch `+dir+`/ready; while :; do sleep 0.05; done`, "-v")
	waitFor(t, dir+"/ready")
	s.cmd.Process.Signal(syscall.SIGTERM)
	if code := s.wait(t, 10*time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
	contains(t, "stderr", s.errb.String(), "DEBUG: signal=15", "DEBUG: grace_seconds=2")
	for _, tc := range []struct {
		env    []string
		script string
		want   string
		count  int // how often want appears; -1: at least once
	}{
		{[]string{"EP_RESTART_ENABLED=1", "EP_MAX_RESTARTS=1", "EP_RESTART_BACKOFF_SECONDS=0"}, "kill -SEGV $$", "DEBUG: restart_count=1", 1},
		{[]string{"EP_SIGNALS=USR1"}, "exit 0", "EP_SIGNALS parsed", 1},
		{[]string{"EP_SIGNALS="}, "exit 0", "EP_SIGNALS parsed", 1},
		{nil, "exit 0", "EP_SIGNALS parsed", 0},
		{[]string{"EP_SIGNALS=USR1,INVALID,USR2"}, "exit 0", "Unknown EP_SIGNALS token", 1},
		{[]string{"EP_SIGNALS=RT1"}, "exit 0", "RT* EP_SIGNALS tokens require EP_SIGRTMIN", 1},
		{[]string{"EP_GRACE_SECONDS=x"}, "exit 0", "invalid EP_GRACE_SECONDS", 1},
		{[]string{"EP_GRACE_SECONDS=9223372036854775807"}, "exit 0", "EP_GRACE_SECONDS too large; clamping", 1},
		{[]string{"EP_EXIT_CODE_BASE=300"}, "exit 0", "invalid EP_EXIT_CODE_BASE", 1},
	} {
		s := startSup(t, tc.env, tc.script, "-v")
		s.wait(t, 30*time.Second)
		if n := strings.Count(s.errb.String(), tc.want); n != tc.count {
			t.Errorf("%q: %q appears %d times, want %d:\n%s", tc.env, tc.want, n, tc.count, s.errb.String())
		}
	}
	s = startSup(t, []string{"EP_RESTART_ENABLED=1", "EP_RESTART_BACKOFF_SECONDS=30"}, `touch `+dir+`/crashed; kill -SEGV $$`, "-v")
	waitFor(t, dir+"/crashed")
	s.errb.await(t, "restart 1 (backoff 30s)", 5*time.Second) // in the backoff now
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.wait(t, 10*time.Second)
	contains(t, "stderr", s.errb.String(), "shutdown requested during restart backoff")
}

// TestSupervisorOutlivesItsReader: init's output goes into a pipe whose
// reader exits at the first byte (`| head -c 1`, a log shipper that
// restarts). 100 times over: init does not die of SIGPIPE, the command
// finishes, its exit status comes back through init, and the command
// started with SIGPIPE at its default disposition.
func TestSupervisorOutlivesItsReader(t *testing.T) {
	dir := t.TempDir()
	script := `set -o pipefail
for i in $(seq 100); do
  EP_SIGNALS=USR1 "$INIT" -v -- sh -c 'grep SigIgn /proc/self/status > "$D/ign.$0"; sleep 0.01; echo done > "$D/done.$0"; exit 7' $i 2>&1 | head -c 1 >/dev/null
  echo "run $i: ${PIPESTATUS[0]}"
done`
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(os.Environ(), "INIT="+initBin, "D="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for i := 1; i <= 100; i++ {
		if !strings.Contains(string(out), fmt.Sprintf("run %d: 7\n", i)) {
			t.Errorf("run %d: init did not return the command's 7:\n%s", i, out)
			break
		}
		done, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("done.%d", i)))
		ign, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("ign.%d", i)))
		if string(done) != "done\n" || string(ign) != "SigIgn:\t0000000000000000\n" {
			t.Errorf("run %d: command did not finish (%q) or started with ignored signals (%q)", i, done, ign)
			break
		}
	}
}
