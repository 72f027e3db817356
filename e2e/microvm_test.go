package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestQEMUMicroVM: a real kernel command line with 30 env.* entries, 30
// plain KEY=VALUE words (which the kernel itself hands to init as its
// environment; more than 32 in all make the kernel panic before init runs),
// workdir= and a command after --.
func TestQEMUMicroVM(t *testing.T) {
	need(t)
	t.Parallel()
	var words []string
	for i := 1; i <= 30; i++ {
		words = append(words, fmt.Sprintf("env.E%d=e%d", i, i), fmt.Sprintf("P%d=p%d", i, i))
	}
	img := archive(t, node{Text: map[string]string{"/bin/app": `#!/bin/sh
/bin/busybox --install -s /bin
e=0; p=0; i=1; while [ $i -le 30 ]; do
  eval "x=\$E$i y=\$P$i"; [ "$x" = e$i ] && e=$((e+1)); [ "$y" = p$i ] && p=$((p+1)); i=$((i+1))
done
echo "app: args=$* cwd=$(pwd) env.*=$e plain=$p MSG=$MSG"
exit 4`}})
	v := boot(t, vmlinuz, img, strings.Join(words, " ")+` env.MSG="hi there" workdir=/tmp -- /bin/app one "two words"`, 3*time.Minute)
	v.Expect("app: args=one two words cwd=/tmp env.*=30 plain=30 MSG=hi there", "reboot: Power down")
	v.Wait()
}

// TestQEMUMicroVMExit: under quiet the console shows the command's
// status; with QEMU's isa-debug-exit QEMU's own exit code carries it
// ((status << 1) | 1); with stageinit.exit=reboot the VM ends by a reset.
func TestQEMUMicroVMExit(t *testing.T) {
	need(t)
	debugExit := []string{"-device", "isa-debug-exit,iobase=0xf4,iosize=0x01"}
	for _, tc := range []struct {
		name, cmd, words, line, end string
		args                        []string
		code                        int
	}{
		{"exit 3", "exit 3", "", "stageinit: exit status 3\r\n", "reboot: Power down", nil, 0},
		{"killed", "kill -KILL $$", "", "stageinit: exit status 137 (killed by SIGKILL)", "reboot: Power down", nil, 0},
		{"isa-debug-exit 3", "exit 3", "stageinit.exit=isa-debug-exit", "stageinit: exit status 3", "", debugExit, 7},
		{"isa-debug-exit 0", "exit 0", "stageinit.exit=isa-debug-exit", "stageinit: exit status 0", "", debugExit, 1},
		{"reboot", "exit 0", "stageinit.exit=reboot", "stageinit: exit status 0", "reboot: Restarting system", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			img := archive(t, node{Text: map[string]string{"/bin/app": "#!/bin/sh\necho app ran\n" + tc.cmd + "\n"}})
			v := qemu{Kernel: vmlinuz, Initrd: img, Timeout: 3 * time.Minute, Args: tc.args,
				Cmdline: tc.words + " -- /bin/app"}.boot(t)
			v.Expect("app ran", tc.line)
			if tc.end != "" {
				v.Expect(tc.end)
			}
			v.Wait()
			if code := v.cmd.ProcessState.ExitCode(); code != tc.code {
				t.Errorf("QEMU exited %d, want %d", code, tc.code)
			}
		})
	}
}
