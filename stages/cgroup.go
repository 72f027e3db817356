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
	cpu0 time.Duration
}

// Cgroups makes stage cgroups under a cgroup2 mount.
type Cgroups struct {
	Root    string // /sys/fs/cgroup
	PidsMax int    // pids.max of each stage cgroup; 0 leaves "max"
	M       machine.Machine
}

// Check reports whether Root is a cgroup2 mount (statfs(2) magic) and
// enables the pids and memory controllers for its children; an error
// means stages run without cgroups.
func (c *Cgroups) Check() (warnings []string, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(c.Root, &st); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", c.Root, err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		return nil, fmt.Errorf("statfs %s: not a cgroup2 mount: %w", c.Root, unix.ENODEV)
	}
	for _, ctl := range []string{"pids", "memory"} {
		if err := c.M.WriteFile(filepath.Join(c.Root, "cgroup.subtree_control"), "+"+ctl); err != nil {
			warnings = append(warnings, fmt.Sprintf("enable the %s controller in %s: %v", ctl, c.Root, err))
		}
	}
	if c.PidsMax > 0 && len(warnings) > 0 && strings.Contains(warnings[0], "pids") {
		warnings[0] += ": stages have no pids.max, a fork bomb can starve init"
		c.PidsMax = 0
	}
	return warnings, nil
}

// Stage returns the cgroup for a stage, fresh when the previous one is
// empty (so its peak memory is this run's), reused when something of the
// previous run is still in it.
func (c *Cgroups) Stage(name string) (*Cgroup, error) {
	p := filepath.Join(c.Root, name)
	if err := unix.Rmdir(p); err != nil && err != unix.ENOENT && err != unix.EBUSY {
		return nil, fmt.Errorf("rmdir %s: %w", p, err)
	}
	if err := os.Mkdir(p, 0o755); err != nil && !os.IsExist(err) {
		return nil, fmt.Errorf("mkdir %s: %w", p, err)
	}
	if c.PidsMax > 0 {
		if err := c.M.WriteFile(filepath.Join(p, "pids.max"), strconv.Itoa(c.PidsMax)); err != nil {
			return nil, fmt.Errorf("write %s/pids.max %d: %w", p, c.PidsMax, err)
		}
	}
	fd, err := unix.Open(p, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	cg := &Cgroup{Path: p, m: c.M, fd: fd}
	cg.cpu0, _ = cg.cpu()
	return cg, nil
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
// SIGKILL to every pid in cgroup.procs until it is empty.
func (g *Cgroup) kill() error {
	if g == nil {
		return nil
	}
	err := g.m.WriteFile(filepath.Join(g.Path, "cgroup.kill"), "1")
	for i := 0; err != nil && i < 100; i++ {
		left := pids(filepath.Join(g.Path, "cgroup.procs"))
		if len(left) == 0 {
			return nil
		}
		for _, pid := range left {
			g.m.Kill(pid, unix.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("kill cgroup %s: processes left after cgroup.kill failed (%v)", g.Path, err)
	}
	return nil
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

// Stats returns the CPU time used since Stage made the cgroup and the peak
// memory (memory.peak, when the memory controller is on), for the log.
func (g *Cgroup) Stats() string {
	if g == nil {
		return ""
	}
	cpu, err := g.cpu()
	s := ""
	if err == nil {
		s = fmt.Sprintf(", cpu %v", (cpu - g.cpu0).Round(time.Millisecond))
	}
	if b, err := machine.ReadFile(filepath.Join(g.Path, "memory.peak"), 64); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
			s += fmt.Sprintf(", peak memory %d KiB", n>>10)
		}
	}
	return s
}

func (g *Cgroup) cpu() (time.Duration, error) {
	b, err := machine.ReadFile(filepath.Join(g.Path, "cpu.stat"), 4096)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			return time.Duration(n) * time.Microsecond, err
		}
	}
	return 0, fmt.Errorf("no usage_usec in %s/cpu.stat", g.Path)
}
