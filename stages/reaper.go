// Package stages is the group-signal/reap core of stageinit: it spawns a
// stage in its own session, forwards signals to its process group, reaps
// every zombie, escalates to SIGKILL after a grace period and restarts a
// crashed stage when asked to.
package stages

import (
	"sync"

	"golang.org/x/sys/unix"
)

// Status is how a reaped process ended, as wait4(2) reported it.
type Status struct {
	Pid int
	WS  unix.WaitStatus
}

// Code maps the status to an exit code: the exit status, or base+signal
// when the process was killed by a signal (mini-init-asm's EP_EXIT_CODE_BASE).
func (s Status) Code(base int) int {
	if s.WS.Signaled() {
		return base + int(s.WS.Signal())
	}
	return s.WS.ExitStatus()
}

// Reaper is the one owner of wait4(-1) in the process (runc signals.go,
// containerd's reaper): whoever starts a process registers its pid under the
// reaper's lock and receives the exit status on a channel. Statuses of pids
// nobody registered (adopted orphans) go to Orphan.
type Reaper struct {
	mu      sync.Mutex
	waiting map[int]chan Status
	// Orphan, if set, is called (under the lock, so it must not block) for
	// each reaped pid nobody waits for.
	Orphan func(Status)
}

// Start runs start, which must create exactly one child and return its pid,
// with the reaper locked, so the child cannot be reaped before it is
// registered. The returned channel receives its status once.
func (r *Reaper) Start(start func() (int, error)) (int, <-chan Status, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := start()
	if err != nil {
		return 0, nil, err
	}
	if r.waiting == nil {
		r.waiting = make(map[int]chan Status)
	}
	ch := make(chan Status, 1)
	r.waiting[pid] = ch
	return pid, ch, nil
}

// Reap collects every exited child with wait4(-1, WNOHANG) and hands each
// status to its waiter. It returns how many it reaped and whether the kernel
// answered ECHILD (no children left at all).
//
// wait4 is called directly, not through a seam: a status word passed to a
// function value escapes to the heap, one allocation per reaped child.
func (r *Reaper) Reap() (n int, none bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err == unix.ECHILD {
			return n, true
		}
		if err != nil || pid <= 0 {
			return n, false
		}
		n++
		st := Status{Pid: pid, WS: ws}
		if ch, ok := r.waiting[pid]; ok {
			delete(r.waiting, pid)
			ch <- st
		} else if r.Orphan != nil {
			r.Orphan(st)
		}
	}
}
