package stages

// Final is the action after /etc/reboot (SPEC 2.5).
type Final int

const (
	SoftRestart   Final = iota // teardown, 1 s, boot stage again
	Kexec                      // load /kernel, teardown, reboot(RB_KEXEC)
	ColdReboot                 // teardown, reboot(RB_AUTOBOOT)
	HaltFinal                  // teardown, reboot(RB_HALT_SYSTEM) from a child
	PoweroffFinal              // teardown, reboot(RB_POWER_OFF) from a child
)

var finalNames = [...]string{"soft restart", "kexec", "cold reboot", "halt", "poweroff"}

func (f Final) String() string { return finalNames[f] }

// ShutdownName is INIT_SHUTDOWN for /etc/reboot: the strongest request.
func ShutdownName(req Action) string {
	switch req {
	case Poweroff:
		return "poweroff"
	case Halt:
		return "halt"
	}
	return "reboot"
}

// Decide picks the final action from the strongest request of this round
// and the control files, in SPEC 2.5's order of precedence. exists tells
// whether /poweroff, /reboot or /kernel is present. In microVM mode the
// machine powers off (or halts, when asked to).
func Decide(req Action, exists func(string) bool, microVM bool) Final {
	switch {
	case req == Poweroff || exists("/poweroff"):
		return PoweroffFinal
	case req == Halt:
		return HaltFinal
	case microVM:
		return PoweroffFinal
	case exists("/reboot"):
		return ColdReboot
	case exists("/kernel"):
		return Kexec
	}
	return SoftRestart
}

// Stronger reports whether request a overrides b (poweroff > halt > reboot).
func Stronger(a, b Action) bool { return rank(a) > rank(b) }

func rank(a Action) int {
	switch a {
	case Reboot:
		return 1
	case Halt:
		return 2
	case Poweroff:
		return 3
	}
	return 0
}
