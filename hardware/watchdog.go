// Package hardware is what the node talks to besides its stages: the
// hardware watchdog and the power buttons.
package hardware

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/stageinit/stageinit/kmsg"
	"github.com/stageinit/stageinit/machine"
)

// Watchdog is the node's hardware watchdog, when it has one (the kernel's
// Documentation/watchdog/watchdog-api.rst). The machine's event loop owns
// it: Look opens it when it appears, the loop calls Pet when Due, at a
// third of the device's timeout. Before a kexec HandOver sets the kexec
// allowance and closes the device without the magic close: the hardware
// keeps counting through the jump, and a new kernel that never reaches an
// init that pets it is reset.
type Watchdog struct {
	M       machine.Machine
	Log     *kmsg.Logger
	Devs    []string // where to look, first found wins
	Timeout *int     // stageinit.watchdog=: nil keeps the device's, 0 leaves it alone

	Due    time.Time     // the next keepalive; zero while none is open
	Reset  bool          // the device said it reset the machine (WDIOF_CARDRESET)
	Armed  time.Duration // the open device's timeout; 0 while none is open
	dev    machine.WatchdogDevice
	every  time.Duration
	off    bool // handed over or disarmed: do not reopen until Resume
	failed bool // a keepalive failed (logged once)
}

// Look opens the watchdog if there is one and init does not hold it yet.
// The loop calls it at boot, whenever a stage ends (a stage may have
// loaded the driver) and every 30 s (a daemon may have).
func (w *Watchdog) Look() {
	if w.dev != nil || w.off || (w.Timeout != nil && *w.Timeout == 0) {
		return
	}
	for _, dev := range w.Devs {
		d, err := w.M.OpenWatchdog(dev)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			w.Log.Warnf("watchdog: open %s: %v", dev, err)
			return
		}
		if w.Timeout != nil {
			if err := d.SetTimeout(*w.Timeout); err != nil {
				w.Log.Warnf("watchdog: %s: %v: keeping its own timeout", dev, err)
			}
		}
		t, err := d.Timeout()
		if err != nil || t < time.Second {
			w.Log.Warnf("watchdog: %s: timeout %v (%v): petting every second", dev, t, err)
			t = 3 * time.Second
		}
		w.dev, w.every, w.Due, w.Armed, w.Reset = d, t/3, time.Now().Add(t/3), t, w.Reset || d.CardReset()
		w.Log.Infof("watchdog: %s armed, timeout %v, petted every %v", dev, t, t/3)
		if b, _ := os.ReadFile("/sys/module/watchdog/parameters/stop_on_reboot"); strings.TrimSpace(string(b)) != "0" {
			w.Log.Warnf("watchdog: the kexec safety net is off: stop_on_reboot is %q, so the kernel stops %s "+
				"before it jumps to a new kernel; boot with watchdog.stop_on_reboot=0", strings.TrimSpace(string(b)), dev)
		}
		return
	}
}

// Pet is the keepalive that was Due; a failure is logged once.
func (w *Watchdog) Pet() {
	if err := w.dev.KeepAlive(); err != nil && !w.failed {
		w.Log.Errf("watchdog: keepalive: %v", err)
		w.failed = true
	}
	w.Due = time.Now().Add(w.every)
}

// HandOver leaves the watchdog counting through a kexec: it sets the
// kexec allowance and closes the device without the magic close.
func (w *Watchdog) HandOver(allowance int) {
	if d := w.release(); d != nil {
		if err := d.SetTimeout(allowance); err != nil {
			w.Log.Warnf("watchdog: %v: the next kernel has the current timeout", err)
		}
		d.KeepAlive()
		d.Close()
		w.Log.Infof("watchdog: left counting, %ds for the next kernel's init to take it over", allowance)
	}
}

// Disarm stops the watchdog with the magic close ("V"): poweroff, halt.
func (w *Watchdog) Disarm() {
	if d := w.release(); d != nil {
		if err := d.MagicClose(); err != nil {
			w.Log.Warnf("watchdog: magic close: %v", err)
		}
		w.Log.Infof("watchdog: disarmed")
	}
}

// release stops petting and hands the open device, if any, to the caller.
func (w *Watchdog) release() machine.WatchdogDevice {
	d := w.dev
	w.off, w.dev, w.Due, w.Armed = true, nil, time.Time{}, 0
	return d
}

// Resume takes the watchdog back after a final action that failed.
func (w *Watchdog) Resume() {
	w.off = false
	w.Look()
}
