#!/usr/bin/env bash
# make run: boot the demo node in QEMU (TCG) with Debian's kernel. The demo
# archive carries the kernel and the node archive under /boot, so that
# generation 1 can kexec into generation 2, which powers off.
set -euo pipefail
cache=$1 build=$2
vmlinuz=$(bash "$(dirname "$0")/debian-kernel.sh" "$cache")
mods=$(dirname "$vmlinuz")/../lib/modules/$(basename "$vmlinuz" | sed 's/^vmlinuz-//')/kernel/drivers/watchdog
# The node archive of generation 2 with the watchdog modules too.
"$build/mkinitramfs" -o "$build/demo-gen2.cpio.gz" -init "$build/init" \
  -file /bin/busybox=/bin/busybox -overlay examples/node \
  -file /lib/modules/watchdog.ko="$mods/watchdog.ko" -file /lib/modules/i6300esb.ko="$mods/i6300esb.ko"
"$build/mkinitramfs" -o "$build/demo.cpio.gz" -init "$build/init" \
  -file /bin/busybox=/bin/busybox -overlay examples/node \
  -file /lib/modules/watchdog.ko="$mods/watchdog.ko" -file /lib/modules/i6300esb.ko="$mods/i6300esb.ko" \
  -file /boot/vmlinuz="$vmlinuz" -file /boot/initrd="$build/demo-gen2.cpio.gz"
echo "== booting $vmlinuz with $build/demo.cpio.gz (QEMU TCG, console on ttyS0)"
start=$(date +%s)
# -device i6300esb: a hardware watchdog; watchdog.stop_on_reboot=0 keeps it
# counting through the kexec, so that a bad new kernel would be reset.
timeout 300 qemu-system-x86_64 -m 1024 -accel tcg -smp 1 -display none -device i6300esb \
  -no-reboot -serial stdio -monitor none -kernel "$vmlinuz" -initrd "$build/demo.cpio.gz" \
  -append "console=ttyS0 panic=-1 log_buf_len=16M quiet watchdog.stop_on_reboot=0" | tee "$build/demo-console.log"
echo "== QEMU exited after $(( $(date +%s) - start )) s"
if grep -q 'Kernel panic' "$build/demo-console.log"; then echo "== FAIL: kernel panic"; exit 1; fi
grep -q 'generation 2 is up' "$build/demo-console.log" && grep -q 'reboot: Power down' "$build/demo-console.log" \
  && echo "== demo OK: booted, ran the stages, kexec'd into generation 2, powered off"
