package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func monotonic() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return time.Duration(ts.Nano())
}

// childMode runs the helper children of the benchmarks (bench -child ...).
func childMode(args []string) {
	switch args[0] {
	case "signals": // print CLOCK_MONOTONIC at each TERM, exit after n
		n, _ := strconv.Atoi(args[1])
		ch := make(chan os.Signal, 1)
		notifyTERM(ch)
		fmt.Println("ready")
		for i := 0; i < n; i++ {
			<-ch
			fmt.Println(int64(monotonic()))
		}
	case "spawn": // start n /bin/true whose parent is init (CLONE_PARENT)
		n, _ := strconv.Atoi(args[1])
		attr := &syscall.ProcAttr{Sys: &syscall.SysProcAttr{Cloneflags: syscall.CLONE_PARENT}}
		for i := 0; i < n; i++ {
			if _, err := syscall.ForkExec("/bin/true", []string{"true"}, attr); err != nil {
				fmt.Fprintln(os.Stderr, "spawn:", err)
				os.Exit(1)
			}
			if i == n/2 {
				time.Sleep(500 * time.Millisecond)
				fmt.Println("half")
			}
		}
		time.Sleep(time.Second)
		fmt.Println("done")
		time.Sleep(time.Hour) // the parent measures, then kills us
	}
	os.Exit(0)
}

// latency: kill -TERM init to the child's handler.
func (r *report) latency(ps []peer, rounds int) {
	self, _ := os.Executable()
	type run struct {
		p    peer
		cmd  *exec.Cmd
		out  *bufio.Reader
		durs []time.Duration
	}
	var runs []*run
	for _, p := range ps {
		cmd := exec.Command(p.path, p.args(self, "-child", "signals", strconv.Itoa(rounds))...)
		cmd.Env = append(os.Environ(), p.env...)
		pipe, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			continue
		}
		rd := bufio.NewReader(pipe)
		rd.ReadString('\n') // ready
		runs = append(runs, &run{p: p, cmd: cmd, out: rd})
	}
	for i := 0; i < rounds; i++ {
		for _, ru := range runs {
			t0 := monotonic()
			ru.cmd.Process.Signal(syscall.SIGTERM)
			line, err := ru.out.ReadString('\n')
			if err != nil {
				continue
			}
			t1, _ := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
			ru.durs = append(ru.durs, time.Duration(t1)-t0)
		}
	}
	r.printf("## 3. Signal forwarding latency\n\n`kill -TERM init` to the child's handler (CLOCK_MONOTONIC in both), %d rounds, interleaved.\n\n", rounds)
	r.printf("| init | median | p99 | min | max |\n|---|---|---|---|---|\n")
	for _, ru := range runs {
		ru.cmd.Wait()
		s := summarize(ru.durs)
		r.record("signal latency, median", ru.p.name, float64(s.med))
		r.record("signal latency, p99", ru.p.name, float64(s.p99))
		r.printf("| %s | %v | %v | %v | %v |\n", ru.p.name, s.med.Round(time.Microsecond), s.p99.Round(time.Microsecond),
			s.min.Round(time.Microsecond), s.max.Round(time.Microsecond))
	}
	r.printf("\n")
}

// memory: RSS of init with a child running, and after n reaped children.
func (r *report) memory(ps []peer, n int) {
	self, _ := os.Executable()
	r.printf("## 4. Init's memory\n\nRSS of init while its child runs, and after the child started %d `/bin/true` whose parent is init (CLONE_PARENT), all reaped by init.\n\n", n)
	r.printf("| init | RSS with a child | after %d reaped | after %d reaped | time |\n|---|---|---|---|---|\n", n/2, n)
	for _, p := range ps {
		cmd := exec.Command(p.path, p.args(self, "-child", "spawn", strconv.Itoa(n))...)
		cmd.Env = append(os.Environ(), p.env...)
		pipe, _ := cmd.StdoutPipe()
		begin := time.Now()
		if err := cmd.Start(); err != nil {
			continue
		}
		time.Sleep(200 * time.Millisecond)
		before := rssKB(cmd.Process.Pid)
		rd := bufio.NewReader(pipe)
		rd.ReadString('\n')
		half := rssKB(cmd.Process.Pid)
		rd.ReadString('\n')
		el := time.Since(begin)
		after := rssKB(cmd.Process.Pid)
		zombies := countZombies(cmd.Process.Pid)
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		r.record(fmt.Sprintf("RSS after %d reaped", n), p.name, float64(after))
		r.printf("| %s | %d KiB | %d KiB | %d KiB (%d zombies left) | %v |\n", p.name, before, half, after, zombies, el.Round(time.Millisecond))
	}
	r.printf("\n")
}

func countZombies(parent int) int {
	n := 0
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) > 1 && f[0] == "Z" && f[1] == strconv.Itoa(parent) {
			n++
		}
	}
	return n
}

// sizes: the binaries as shipped (stageinit stripped, static).
func (r *report) sizes(ps []peer) {
	r.printf("## 5. Binary size\n\n| init | bytes | linking |\n|---|---|---|\n")
	for _, p := range ps {
		st, err := os.Stat(p.path)
		if err != nil {
			continue
		}
		o, _ := exec.Command("file", "-bL", p.path).Output()
		link := "dynamic"
		if strings.Contains(string(o), "statically linked") {
			link = "static"
		}
		r.record("binary size", p.name, float64(st.Size()))
		r.printf("| %s | %d | %s |\n", p.name, st.Size(), link)
	}
	r.printf("\nstageinit is a Go program (runtime, GC, u-root's kexec package): it is the largest; the size is the price of writing pid 1 in a memory-safe language. Most of it is the Go runtime and fmt/os/reflect pulled in by them.\n\n")
}
