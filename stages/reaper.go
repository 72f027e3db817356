// Package stages is the group-signal/reap core of stageinit: it spawns a
// stage in its own session, forwards signals to its process group, reaps
// every zombie, escalates to SIGKILL after a grace period and restarts a
// crashed stage when asked to.
package stages

import (
	"sync"
	"time"

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
	kick    chan struct{} // Start wakes Run when it found no children
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
	select {
	case r.kicker() <- struct{}{}:
	default:
	}
	return pid, ch, nil
}

// kicker returns the kick channel; r.mu must be held.
func (r *Reaper) kicker() chan struct{} {
	if r.kick == nil {
		r.kick = make(chan struct{}, 1)
	}
	return r.kick
}

// idleWake bounds Run's wait for a kick when it found no children (a child
// created behind Start's back is reaped at most this late).
var idleWake = time.Second

// Run reaps for the life of the process: it blocks in wait4(-1, 0) and
// hands each status out as Reap does. No SIGCHLD is involved: a signal
// costs a wake-up of the Go runtime's signal goroutine and of the loop
// behind it, about twice the CPU per reaped child (BENCHMARKS.md). With no
// child at all (ECHILD) it waits until Start creates one.
func (r *Reaper) Run() {
	r.mu.Lock()
	kick := r.kicker()
	r.mu.Unlock()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		switch {
		case err == unix.EINTR:
		case err == unix.ECHILD:
			select {
			case <-kick:
			case <-time.After(idleWake):
			}
		case err != nil || pid <= 0:
			time.Sleep(10 * time.Millisecond) // not seen in practice; never spin
		default:
			r.mu.Lock()
			r.hand(Status{Pid: pid, WS: ws})
			r.mu.Unlock()
		}
	}
}

// Reap collects every exited child with wait4(-1, WNOHANG) and hands each
// status to its waiter (teardown's sweeps, and tests without Run). It
// returns how many it reaped and whether the kernel answered ECHILD (no
// children left at all).
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
		r.hand(Status{Pid: pid, WS: ws})
	}
}

// hand gives st to whoever waits for its pid, or to Orphan; r.mu is held.
func (r *Reaper) hand(st Status) {
	if ch, ok := r.waiting[st.Pid]; ok {
		delete(r.waiting, st.Pid)
		ch <- st
	} else if r.Orphan != nil {
		r.Orphan(st)
	}
}
