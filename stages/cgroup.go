package stages

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stageinit/stageinit/machine"
	"golang.org/x/sys/unix"
)

// Cgroup is one stage's cgroup v2 directory (the kernel's
// Documentation/admin-guide/cgroup-v2.rst): the stage is cloned into it
// (CLONE_INTO_CGROUP), so it and everything it starts, setsid daemons
// included, stay one unit. The methods of a nil *Cgroup do nothing.
type Cgroup struct {
	Path string
	m    machine.Machine
	fd   int // O_DIRECTORY fd for clone3's cgroup field
}

// Cgroups makes stage cgroups under a cgroup2 mount.
type Cgroups struct {
	Root    string
	PidsMax int // pids.max of each stage cgroup; 0 leaves "max"
	m       machine.Machine
}

// controllers are enabled for the stage cgroups: the kernel option that
// provides each, and what stages go without when the kernel lacks it.
var controllers = [...]struct{ name, option, without string }{
	{"pids", "CONFIG_CGROUP_PIDS=y", "stages have no pids.max, a fork bomb can starve init"},
	{"memory", "CONFIG_MEMCG=y", "the log has no peak memory of a stage"},
}

// NewCgroups checks that root is a cgroup2 mount (statfs(2) magic) and
// enables the pids and memory controllers for its children; an error
// means stages run without cgroups. pidsMax 0 is 90% of the smaller of
// kernel/pid_max and kernel/threads-max: a fork bomb in a stage then
// cannot keep the Go runtime from making its threads. The warnings name
// what the kernel lacks.
func NewCgroups(m machine.Machine, root string, pidsMax int) (*Cgroups, []string, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return nil, nil, fmt.Errorf("statfs %s: %w", root, err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		return nil, nil, fmt.Errorf("statfs %s: not a cgroup2 mount: %w", root, unix.ENODEV)
	}
	c := &Cgroups{Root: root, PidsMax: pidsMax, m: m}
	for _, f := range []string{"/proc/sys/kernel/pid_max", "/proc/sys/kernel/threads-max"} {
		if n := readInt(f) * 9 / 10; pidsMax == 0 && n > 0 && (c.PidsMax == 0 || n < c.PidsMax) {
			c.PidsMax = n
		}
	}
	var warns []string
	for _, ctl := range controllers {
		f := filepath.Join(root, "cgroup.subtree_control")
		if err := m.WriteFile(f, "+"+ctl.name); err != nil {
			warns = append(warns, fmt.Sprintf("write %s +%s: %v: the kernel has no %s controller (%s): %s",
				f, ctl.name, err, ctl.name, ctl.option, ctl.without))
			if ctl.name == "pids" {
				c.PidsMax = 0
			}
		}
	}
	return c, warns, nil
}

// readInt reads a number from a file of /proc; 0 when it cannot.
func readInt(path string) int {
	b, _ := machine.ReadFile(path, 64)
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// Make returns the cgroup for a stage, fresh when the previous one is
// empty (so that its CPU time and peak memory are this run's), reused
// when something of the previous run is still in it.
func (c *Cgroups) Make(name string) (*Cgroup, error) {
	p := filepath.Join(c.Root, name)
	if err := unix.Rmdir(p); err != nil && err != unix.ENOENT && err != unix.EBUSY {
		return nil, fmt.Errorf("rmdir %s: %w", p, err)
	}
	if err := os.Mkdir(p, 0o755); err != nil && !os.IsExist(err) {
		return nil, fmt.Errorf("mkdir %s: %w", p, err)
	}
	if c.PidsMax > 0 {
		if err := c.m.WriteFile(filepath.Join(p, "pids.max"), strconv.Itoa(c.PidsMax)); err != nil {
			return nil, fmt.Errorf("write %s/pids.max %d: %w", p, c.PidsMax, err)
		}
	}
	fd, err := unix.Open(p, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	return &Cgroup{Path: p, m: c.m, fd: fd}, nil
}

// Close releases the directory fd.
func (g *Cgroup) Close() {
	if g != nil {
		unix.Close(g.fd)
	}
}

// signal sends sig to every process in the cgroup.
func (g *Cgroup) signal(sig syscall.Signal) {
	if g != nil {
		for _, pid := range pids(filepath.Join(g.Path, "cgroup.procs")) {
			g.m.Kill(pid, sig)
		}
	}
}

// kill kills everything in the cgroup: cgroup.kill (Linux 5.14+), or else
// one SIGKILL to each pid of cgroup.procs. Either way the run then waits
// for the cgroup to be empty (Ended), as long as the loop's kill timer lets
// it: a process forked while cgroup.procs was read is still there then.
func (g *Cgroup) kill() {
	if g != nil && g.m.WriteFile(filepath.Join(g.Path, "cgroup.kill"), "1") != nil {
		g.signal(unix.SIGKILL)
	}
}

// empty reports whether no process is left in the cgroup or below it
// (cgroup.events: populated 0). A nil cgroup, or one that cannot be read,
// is empty.
func (g *Cgroup) empty() bool {
	if g == nil {
		return true
	}
	b, _ := machine.ReadFile(filepath.Join(g.Path, "cgroup.events"), 4096)
	return !strings.Contains(string(b), "populated 1")
}

// pids reads a list of pids (cgroup.procs).
func pids(path string) []int {
	b, _ := machine.ReadFile(path, 1<<20)
	var l []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			l = append(l, pid)
		}
	}
	return l
}

// Stats returns the CPU time and the peak memory of everything the
// cgroup held (cpu.stat's usage_usec, memory.peak when the memory
// controller is on), for the log line at the stage's end.
func (g *Cgroup) Stats() string {
	if g == nil {
		return ""
	}
	s := ""
	b, _ := machine.ReadFile(filepath.Join(g.Path, "cpu.stat"), 4096)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			s = fmt.Sprintf(", cpu %v", (time.Duration(n) * time.Microsecond).Round(time.Millisecond))
		}
	}
	if b, err := machine.ReadFile(filepath.Join(g.Path, "memory.peak"), 64); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
			s += fmt.Sprintf(", peak memory %d KiB", n>>10)
		}
	}
	return s
}
