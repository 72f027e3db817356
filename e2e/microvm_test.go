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
