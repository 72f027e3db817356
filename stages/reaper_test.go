package stages

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stageinit/stageinit/kmsg"
	"github.com/stageinit/stageinit/machine"
	"golang.org/x/sys/unix"
)

// TestReaperRace starts 10,000 short children, each leaving an orphan
// behind, and reaps as the loop does: at every signal from the pipe
// (SIGCHLD merges while pending), Reaped until none has ended. Every
// child's status must reach its own waiter and no zombie may remain. It
// reaps every child of the process, so it runs in a child test process of
// its own.
func TestReaperRace(t *testing.T) {
	if os.Getenv("STAGES_RUN_RACE") == "1" {
		race(t)
		return
	}
	args := []string{"-test.run=^TestReaperRace$", "-test.v", "-test.timeout=5m"}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "STAGES_RUN_RACE=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestReaperRace") {
		t.Fatalf("race under Reap: %v\n%s", err, out)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
}

// waiters hands the reaped statuses to whoever waits for their pid, as
// the event loop does, from the one goroutine that reaps.
type waiters struct {
	mu      sync.Mutex
	got     map[int]Status
	orphans int
	cond    *sync.Cond
}

func (w *waiters) wait(pid int) Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		if st, ok := w.got[pid]; ok {
			delete(w.got, pid)
			return st
		}
		w.cond.Wait()
	}
}

// race starts n children (each exits with its own code and leaves an
// orphan), checks every status, then that nothing is left.
func race(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 500
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("prctl: %v", err)
	}
	fd, err := Notify()
	if err != nil {
		t.Fatal(err)
	}
	w := &waiters{got: map[int]Status{}}
	w.cond = sync.NewCond(&w.mu)
	go func() {
		sigs := make(chan syscall.Signal, 256)
		for {
			unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, -1)
			ReadSignals(fd, sigs)
			for len(sigs) > 0 {
				<-sigs
				for st, ok := Reaped(); ok; st, ok = Reaped() {
					w.mu.Lock()
					w.got[st.Pid] = st
					w.orphans++
					w.cond.Broadcast()
					w.mu.Unlock()
				}
			}
		}
	}()
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	null := devnull.Fd()
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < n; i += 8 {
				code := i % 256
				s := Spec{Name: "race", Argv: []string{"/bin/sh", "-c", "(exit 7) & exit " + strconv.Itoa(code)},
					Files: [3]uintptr{null, null, null}}
				pid, err := spawn(machine.Real{}, s)
				if err != nil {
					errs <- err.Error()
					continue
				}
				if st := w.wait(pid); st.Pid != pid || st.WS.ExitStatus() != code || st.WS.Signaled() {
					errs <- fmt.Sprintf("child %d: got pid %d status %v, want exit %d", pid, st.Pid, st.WS, code)
				}
			}
		}(g)
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for (machine.Real{}).Children() {
		if time.Now().After(deadline) {
			t.Fatalf("children left after 10 s: %s", zombies())
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	w.mu.Lock()
	t.Logf("%d children and %d orphans reaped", n, w.orphans-n)
	w.mu.Unlock()
	if z := zombies(); z != "" {
		t.Errorf("zombies left: %s", z)
	}
}

// zombies lists processes in state Z whose parent is this process.
func zombies() string {
	var out []string
	self := strconv.Itoa(os.Getpid())
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) > 1 && f[0] == "Z" && f[1] == self {
			out = append(out, d.Name())
		}
	}
	return strings.Join(out, " ")
}

func TestStatusCode(t *testing.T) {
	for _, tc := range []struct {
		ws   unix.WaitStatus
		base int
		want int
	}{
		{0, 128, 0},
		{3 << 8, 128, 3},
		{255 << 8, 128, 255},
		{unix.WaitStatus(unix.SIGKILL), 128, 137},
		{unix.WaitStatus(unix.SIGKILL), 200, 209},
		{unix.WaitStatus(unix.SIGTERM), 0, 15},
		{unix.WaitStatus(unix.SIGSEGV) | 0x80, 128, 139}, // core dumped
	} {
		if got := (Status{WS: tc.ws}).Code(tc.base); got != tc.want {
			t.Errorf("Code(%#x, %d) = %d, want %d", int(tc.ws), tc.base, got, tc.want)
		}
	}
}

func TestExitCode(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	log := kmsg.NewLogger(os.Stderr, false, nil)
	for _, tc := range []struct {
		name string
		path string
		want int
	}{
		{"missing", dir + "/nope", 127},
		{"no PATH match", "no-such-command-here", 127},
		{"mode 0644", write("plain", "#!/bin/sh\n", 0o644), 126},
		{"directory", dir, 126},
		{"garbage", write("garbage", "\x7fELF garbage", 0o755), 126},
		{"bad interpreter", write("badint", "#!/nonexistent\n", 0o755), 126},
		{"empty", write("empty", "", 0o755), 126},
	} {
		r := &Run{Spec: Spec{Name: tc.name, Argv: []string{tc.path}, Files: [3]uintptr{0, 1, 2}}, M: machine.Real{}, Log: log}
		r.Start()
		if r.Err == nil || !r.Ended() || r.Code(128) != tc.want {
			t.Errorf("%s: code %d err %v, want %d", tc.name, r.Code(128), r.Err, tc.want)
		}
	}
}
