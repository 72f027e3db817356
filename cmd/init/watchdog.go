package main

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/stageinit/stageinit/kmsg"
	"github.com/u-root/u-root/pkg/watchdog"
	"golang.org/x/sys/unix"
)

// dog is the node's hardware watchdog, when it has one (the kernel's
// Documentation/watchdog/watchdog-api.rst). Init opens it when it appears
// and pets it from a goroutine that does nothing else, at a third of its
// timeout. Before a kexec it sets the kexec allowance and closes the
// device without the magic close: the hardware keeps counting through the
// jump, and a new kernel that never reaches an init that pets it is reset.
type dog struct {
	log     *kmsg.Logger
	devs    []string // where to look, first found wins
	timeout *int     // stageinit.watchdog=: nil keeps the device's, 0 leaves it alone

	mu   sync.Mutex
	w    *watchdog.Watchdog
	off  bool          // handed over to the next kernel: do not reopen
	stop chan struct{} // ends the petting goroutine
	done chan struct{} // closed when it has ended
}

// look opens the watchdog if there is one and init does not hold it yet.
// It is called at boot, whenever a stage ends (a stage may have loaded the
// driver) and on a slow timer.
func (d *dog) look() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.w != nil || d.off || (d.timeout != nil && *d.timeout == 0) {
		return
	}
	for _, dev := range d.devs {
		w, err := watchdog.Open(dev)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			d.log.Warnf("watchdog: open %s: %v", dev, err)
			return
		}
		if d.timeout != nil {
			if err := setTimeout(w, *d.timeout); err != nil {
				d.log.Warnf("watchdog: %s: %v: keeping its own timeout", dev, err)
			}
		}
		t, err := w.Timeout()
		if err != nil || t < time.Second {
			d.log.Warnf("watchdog: %s: timeout %v (%v): petting every second", dev, t, err)
			t = 3 * time.Second
		}
		d.w, d.stop, d.done = w, make(chan struct{}), make(chan struct{})
		go pet(d.log, w, t/3, d.stop, d.done)
		d.log.Infof("watchdog: %s armed, timeout %v, petted every %v", dev, t, t/3)
		if b, _ := os.ReadFile("/sys/module/watchdog/parameters/stop_on_reboot"); strings.TrimSpace(string(b)) != "0" {
			d.log.Warnf("watchdog: the kexec safety net is off: stop_on_reboot is %q, so the kernel stops %s "+
				"before it jumps to a new kernel; boot with watchdog.stop_on_reboot=0", strings.TrimSpace(string(b)), dev)
		}
		return
	}
}

// pet keeps the watchdog from firing until stop is closed.
func pet(log *kmsg.Logger, w *watchdog.Watchdog, every time.Duration, stop, done chan struct{}) {
	defer close(done)
	defer kmsg.Guard()
	t := time.NewTicker(every)
	defer t.Stop()
	for failed := false; ; {
		select {
		case <-stop:
			return
		case <-t.C:
			if err := w.KeepAlive(); err != nil && !failed {
				log.Errf("watchdog: keepalive: %v", err)
				failed = true
			}
		}
	}
}

// setTimeout is WDIOC_SETTIMEOUT with an int of seconds. (u-root's
// SetTimeout hands the kernel a time.Duration, nanoseconds, instead.)
func setTimeout(w *watchdog.Watchdog, secs int) error {
	if err := unix.IoctlSetPointerInt(int(w.Fd()), unix.WDIOC_SETTIMEOUT, secs); err != nil {
		return fmt.Errorf("ioctl WDIOC_SETTIMEOUT %d: %w", secs, err)
	}
	return nil
}

// handOver leaves the watchdog counting through a kexec: it sets the
// kexec allowance and closes the device without the magic close.
func (d *dog) handOver(allowance int) {
	if w := d.release(); w != nil {
		if err := setTimeout(w, allowance); err != nil {
			d.log.Warnf("watchdog: %v: the next kernel has the current timeout", err)
		}
		w.KeepAlive()
		w.Close()
		d.log.Infof("watchdog: left counting, %ds for the next kernel's init to take it over", allowance)
	}
}

// disarm stops the watchdog with the magic close ("V"): poweroff, halt.
func (d *dog) disarm() {
	if w := d.release(); w != nil {
		if err := w.MagicClose(); err != nil {
			d.log.Warnf("watchdog: magic close: %v", err)
		}
		d.log.Infof("watchdog: disarmed")
	}
}

// release stops petting and hands the open device, if any, to the caller;
// look does not open it again until resume.
func (d *dog) release() *watchdog.Watchdog {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.off = true
	w := d.w
	if w != nil {
		close(d.stop)
		<-d.done
		d.w = nil
	}
	return w
}

// resume takes the watchdog back after a final action that failed.
func (d *dog) resume() {
	d.mu.Lock()
	d.off = false
	d.mu.Unlock()
	d.look()
}
