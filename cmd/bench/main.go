// Command bench measures stageinit against the inits people would pick
// instead (tini, tini-static, dumb-init, catatonit), interleaved in one run
// on one machine, and writes BENCHMARKS.md. It is `make bench`; nothing
// here is a test assertion.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// peer is an init under test, with how to run a command under it.
type peer struct {
	name, path string
	args       func(cmd ...string) []string
	env        []string // environment for subreaper mode
	subreaper  bool     // can adopt orphans when not pid 1
}

func peers(stageinit string) []peer {
	dash := func(flags ...string) func(...string) []string {
		return func(cmd ...string) []string { return append(append(flags, "--"), cmd...) }
	}
	return []peer{
		{"stageinit", stageinit, dash(), []string{"EP_SUBREAPER=1", "EP_GRACE_SECONDS=100000"}, true},
		{"tini", "/usr/bin/tini", dash("-s"), nil, true},
		{"tini-static", "/usr/bin/tini-static", dash("-s"), nil, true},
		{"dumb-init", "/usr/bin/dumb-init", func(cmd ...string) []string { return cmd }, nil, false},
		{"catatonit", "/usr/bin/catatonit", dash(), nil, true},
	}
}

type stats struct{ med, min, max, p99 time.Duration }

func summarize(d []time.Duration) stats {
	if len(d) == 0 {
		return stats{}
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return stats{med: s[len(s)/2], min: s[0], max: s[len(s)-1], p99: s[len(s)*99/100]}
}

func run(path string, args []string, env []string) (time.Duration, *os.ProcessState, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	begin := time.Now()
	err := cmd.Run()
	return time.Since(begin), cmd.ProcessState, err
}

func main() {
	bin := flag.String("init", "build/init", "stageinit binary")
	out := flag.String("o", "BENCHMARKS.md", "report file")
	rounds := flag.Int("rounds", 300, "start-up rounds per init")
	children := flag.Int("children", 100000, "children reaped in the memory benchmark")
	only := flag.String("only", "", "run only these sections, e.g. 1,5 (for development)")
	raceRounds := flag.Int("race-rounds", 9, "boot race rounds per init")
	downRounds := flag.Int("downtime-rounds", 5, "update downtime rounds per variant")
	flag.Parse()
	ps := peers(*bin)
	var r report
	r.header(ps)
	sections := []func(){
		func() { r.startup(ps, *rounds) },
		func() { r.churn(ps) },
		func() { r.latency(ps, 1000) },
		func() { r.memory(ps, *children) },
		func() { r.sizes(ps) },
		func() { r.relay(*bin) },
		func() { r.cgroupKill() },
		func() { r.qemu(8, vmAmd64) },
		func() { r.bootRace(*bin, *raceRounds) },
		func() { r.qemu(10, vmArm64) },
		func() { r.downtime(11, *downRounds) },
	}
	for i, section := range sections {
		if *only == "" || strings.Contains(","+*only+",", ","+strconv.Itoa(i+1)+",") {
			section()
		}
	}
	r.ratios(ps, strings.TrimSuffix(*out, ".md")+"-ratios.svg")
	if *only == "" {
		r.analysis()
	}
	if err := os.WriteFile(*out, []byte(r.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Print(r.String())
}

type report struct {
	strings.Builder
	vals    map[string]map[string]float64 // metric, init: value (see ratios.go)
	metrics []string
}

func (r *report) printf(f string, a ...any) {
	fmt.Fprintf(&r.Builder, f, a...)
	fmt.Fprintf(os.Stderr, f, a...)
}

func (r *report) header(ps []peer) {
	r.printf("# Benchmarks\n\nWritten by `make bench` (cmd/bench) on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	cpu := firstLine("/proc/cpuinfo", "model name")
	var u syscall.Utsname
	syscall.Uname(&u)
	r.printf("- machine: %s, %d CPUs, kernel %s, %s\n", cpu, runtime.NumCPU(), cstr(u.Release[:]), runtime.Version())
	for _, p := range ps {
		r.printf("- %s: %s\n", p.name, version(p))
	}
	r.printf("\nEvery measurement runs the inits interleaved (round robin), so drift of the machine cancels out.\n\n")
}

// startup: X -- /bin/true minus /bin/true, with the Go floor among the
// peers.
func (r *report) startup(ps []peer, rounds int) {
	floor, err := buildFloor(floorSupervisor)
	if err != nil {
		r.printf("%v\n\n", err)
		return
	}
	defer os.RemoveAll(filepath.Dir(floor))
	ps = append(ps, peer{name: "Go floor", path: floor, args: func(cmd ...string) []string { return append([]string{"--"}, cmd...) }})
	times := map[string][]time.Duration{}
	for i := 0; i < rounds; i++ {
		d, _, _ := run("/bin/true", nil, nil)
		times["/bin/true"] = append(times["/bin/true"], d)
		for _, p := range ps {
			d, _, err := run(p.path, p.args("/bin/true"), p.env)
			if err == nil {
				times[p.name] = append(times[p.name], d)
			}
		}
	}
	base := summarize(times["/bin/true"]).med
	ref, gofloor := summarize(times["tini-static"]).med-base, summarize(times["Go floor"]).med-base
	r.printf("## 1. Start-up overhead\n\n`X -- /bin/true` minus `/bin/true` (median %v), %d rounds. The Go floor is a static Go program that only forks, execs and waits (built by the benchmark): no Go init can start faster.\n\n", base.Round(time.Microsecond), rounds)
	r.printf("| init | median overhead | min | max | ratio to tini-static | ratio to the Go floor |\n|---|---|---|---|---|---|\n")
	for _, p := range ps {
		s := summarize(times[p.name])
		r.record("start-up overhead, median", p.name, float64(s.med-base))
		r.printf("| %s | %v | %v | %v | %.2f | %.2f |\n", p.name, (s.med - base).Round(time.Microsecond),
			(s.min - base).Round(time.Microsecond), (s.max - base).Round(time.Microsecond), float64(s.med-base)/float64(ref),
			float64(s.med-base)/float64(gofloor))
	}
	r.printf("| u-root init | n/a | n/a | n/a | n/a | n/a |\n\n")
	r.printf("u-root's init (`cmds/core/init`) is not a supervisor: it has no `-- COMMAND`, and started outside pid 1 of a machine it would mount file systems, set the host kernel's console log level (syslog(2)) and bring up the host's loopback interface before it runs `/bin/uinit`. It is measured as pid 1 in the boot race (section 9).\n\n")
}

const churnScript = `i=0; while [ $i -lt 10000 ]; do (true &); i=$((i+1)); done; sleep 0.5
z=0; for f in /proc/[0-9]*/stat; do read -r l < $f 2>/dev/null || continue; set -- ${l##*) }; [ "$1" = Z ] && [ "$2" = $PPID ] && z=$((z+1)); done
read -r l < /proc/$PPID/stat; set -- ${l##*) }; echo $z $(( ${12} + ${13} ))`

// churn: 10,000 orphans as fast as possible.
func (r *report) churn(ps []peer) {
	r.printf("## 2. Reaping under churn\n\nThe child makes 10,000 short-lived orphans as fast as it can (`(true &)` in a loop), then counts zombies whose parent is init. Init runs as a subreaper (stageinit `EP_SUBREAPER=1`, tini `-s`, catatonit always); dumb-init has no subreaper mode outside pid 1, so the orphans are not its to reap. 3 rounds, medians.\n\n")
	r.printf("| init | wall time (min-max) | CPU time of init and its children | init's own CPU time | zombies left |\n|---|---|---|---|---|\n")
	for _, p := range ps {
		if !p.subreaper {
			r.printf("| %s | n/a | n/a | n/a | n/a (no subreaper mode) |\n", p.name)
			continue
		}
		var walls, cpus, own []time.Duration
		zombies := ""
		for i := 0; i < 3; i++ {
			cmd := exec.Command(p.path, p.args("/bin/sh", "-c", churnScript)...)
			cmd.Env = append(os.Environ(), p.env...)
			begin := time.Now()
			o, err := cmd.Output()
			walls = append(walls, time.Since(begin))
			if err == nil {
				cpus = append(cpus, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
			}
			f := strings.Fields(string(o))
			if len(f) == 2 {
				ticks, _ := strconv.Atoi(f[1])
				zombies, own = f[0], append(own, time.Duration(ticks)*10*time.Millisecond) // USER_HZ 100
			}
		}
		w, c, i := summarize(walls), summarize(cpus), summarize(own)
		r.record("churn: init's own CPU time, median", p.name, float64(i.med))
		r.printf("| %s | %v (%v-%v) | %v | %v (%v-%v) | %s |\n", p.name, w.med.Round(time.Millisecond), w.min.Round(time.Millisecond),
			w.max.Round(time.Millisecond), c.med.Round(time.Millisecond), i.med, i.min, i.max, zombies)
	}
	r.printf("\n(The CPU time of init and its children, from wait4's rusage, is dominated by the shell loop; init's own CPU time is utime+stime of init alone, from /proc/PID/stat at the end.)\n\n")
}

func version(p peer) string {
	flagV := "--version"
	if p.name == "catatonit" || p.name == "stageinit" {
		flagV = "-V"
	}
	o, _ := exec.Command(p.path, flagV).CombinedOutput()
	return strings.TrimSpace(strings.SplitN(string(o), "\n", 2)[0])
}

func firstLine(file, prefix string) string {
	f, err := os.Open(file)
	if err != nil {
		return "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			_, v, _ := strings.Cut(sc.Text(), ":")
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func cstr(b []int8) string {
	var s []byte
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}

func rssKB(pid int) int {
	b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	return 0
}

// analysis is what profiling found where stageinit is behind its peers.
func (r *report) analysis() {
	r.printf(`## Where stageinit is behind, and why

- **Boot (section 9), against the Go job floor.** The job floor does
  exactly the work stageinit must do before its boot stage runs, written
  the naive way, and nothing else. Under TCG the race's times are mostly
  QEMU translating code the first time it runs: with -icount (the guest's
  clock counting its instructions) the same boots take 9 to 10 ms of guest
  work for stageinit and 6 to 7 ms for the job floor. stageinit does more
  work, all of it small, spread over every step: in guest instructions
  (the table above) a fifth of the difference is before main (45 package
  initialisers against 14, a larger runtime), most of it from main to the
  spawn (the configuration and command line, the boot reason, the
  skeleton of symlinks, the relay, their log lines), and after the spawn
  init's work shares the one vCPU with /etc/boot (the metrics file, the
  watcher and the power buttons, /init unlinked). Each step runs code the
  job floor never runs, and under TCG each pays its translation, which
  costs many times the instructions it translates: in TCG time the
  timeline puts main about 20 ms later than the job floor's (an upper
  bound: see the timeline) and the first line about 45 ms later. The
  earlier reading that the whole gap was before main came from the boot
  path line, which init's log goroutine writes some ms after its last
  mark; the line now ends with a mark taken as it is queued. A build that
  wrote its marks at once with write(2) put main at 119 and 120 ms after
  Run /init, against the job floor's 115 and 102 ms (two runs of 9
  rounds), while the whole race was about 50 ms apart. A build without
  verification and gzip (no crypto, flate or crc32 packages, 406 KB
  smaller) raced no faster (264 against 254 ms, 9 interleaved rounds).
  Everything before the spawn is what the boot stage sees (its
  environment from the configuration, the command line and the boot
  reason; its cgroup; its streams) or the log of it. Under TCG a system
  call the Go scheduler is told about costs more than the call (it
  outlasts the monitor thread's 20 µs tick, and the processor is handed
  to another thread), which is why the setup's files and mounts use raw
  system calls.
- **Memory, fixed twice.** Debian's kernel has transparent huge pages on
  "always", so the Go heap took two whole 2 MiB pages and init's RSS as
  pid 1 was 6.5 MiB (RssAnon 4.3 MiB in /proc/1/status). The Makefile now
  links init with runtime.godebugDefault=disablethp=1 (MADV_NOHUGEPAGE on
  init's heap only; children keep THP): 2.5 MiB after boot. Then the RSS
  grew with every relayed stderr line (3.1, 5.7, 7.1 MiB after 10,000,
  50,000, 100,000 lines): the relay allocated an escaped copy and a slice
  per record for each line, and the garbage filled the heap up to the
  collector's goal. It now appends into buffers it keeps (a unit test
  checks 0 allocations per line): 2,532 KiB after boot and after 100,000
  lines alike.
- **Start-up (section 1).** os/signal's Notify is a round trip to the
  runtime's signal thread for each signal (two thread hand-offs): the 13
  signals installed before the spawn were 0.53 ms of the 0.9 ms stageinit
  spent above the Go floor (a build without them: 1.22x the floor).
  Init now installs its own handler (a dozen instructions of assembly
  that write the signal's number to a pipe) with one rt_sigaction(2) per
  signal, every signal before the spawn, and starts the goroutine that
  reads the pipe, with the poller it needs, once the command has started
  (0.2 ms). From 1.55x to about 1.22x the Go floor on this machine. The
  rest is page faults: perf stat over 300 runs counts 279 for stageinit
  and 229 for the Go floor (2.2 ms more task-clock; on this machine, a
  virtual machine, a first touch of a page is expensive). The pages are
  the runtime's memory for more allocations, the watcher's goroutine and
  the poller, and more text and rodata. A build without verification and
  gzip has the same count (277) and the same ratio: package
  initialisation is not it.
- **Size, fixed.** encoding/json (336 KB, for /etc/metadata.json) is
  replaced by a decoder of that one shape, fuzzed against encoding/json,
  and fmt.Sscanf (82 KB, the whole scanning side of fmt) by strconv:
  2,871,422 to 2,470,014 bytes. u-root's kexec package stays (176 KB);
  arm64's binary adds u-root's kexec_load loader (pkg/boot/linux).
- **Signal forwarding** goes through init's handler, its pipe, the
  goroutine that reads it and the loop: two goroutine hand-offs that C
  inits (a sigtimedwait or signalfd loop) do not have.
- **Reaping CPU.** SIGCHLD comes through the same pipe and the loop reaps
  with wait4(WNOHANG) until nothing is left, at most 100 at a time; the
  floor of a Go reaper is the runtime's syscall exit for every child.
`)
}
