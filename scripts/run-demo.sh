#!/usr/bin/env bash
# make run [ARCH=arm64]: boot the demo node in QEMU (TCG) with Debian's
# kernel. The demo archive carries the kernel and the node archive under
# /boot, so that generation 1 can kexec into generation 2, which powers off.
set -euo pipefail
cache=$1 build=$2 arch=${3:-amd64}
vmlinuz=$(bash "$(dirname "$0")/debian-kernel.sh" "$cache" "$arch")
root=$(dirname "$vmlinuz")/..
init=$build/init busybox=/bin/busybox
qemu=(qemu-system-x86_64) console=ttyS0
if [ "$arch" != "$(go env GOARCH)" ]; then init=$build/init-$arch; fi
if [ "$arch" = arm64 ]; then
  busybox=$root/bin/busybox qemu=(qemu-system-aarch64 -M virt -cpu max) console=ttyAMA0
fi
# The watchdog driver as modules (the core is built in on arm64).
mods=()
for m in watchdog i6300esb; do
  f=$root/lib/modules/$(basename "$vmlinuz" | sed 's/^vmlinuz-//')/kernel/drivers/watchdog/$m.ko
  [ -e "$f" ] && mods+=(-file "/lib/modules/$m.ko=$f")
done
node=(-arch "$arch" -init "$init" -file "/bin/busybox=$busybox" -overlay examples/node "${mods[@]}")
"$build/mkinitramfs" -o "$build/demo-gen2.cpio.gz" "${node[@]}"
"$build/mkinitramfs" -o "$build/demo.cpio.gz" "${node[@]}" \
  -file /boot/vmlinuz="$vmlinuz" -file /boot/initrd="$build/demo-gen2.cpio.gz"
echo "== booting $vmlinuz with $build/demo.cpio.gz (QEMU TCG, $arch, console on $console)"
start=$(date +%s)
# -device i6300esb: a hardware watchdog; watchdog.stop_on_reboot=0 keeps it
# counting through the kexec, so that a bad new kernel would be reset.
timeout 300 "${qemu[@]}" -m 1024 -accel tcg -smp 1 -display none -device i6300esb \
  -no-reboot -serial stdio -monitor none -kernel "$vmlinuz" -initrd "$build/demo.cpio.gz" \
  -append "console=$console panic=-1 log_buf_len=16M quiet watchdog.stop_on_reboot=0" | tee "$build/demo-console.log"
echo "== QEMU exited after $(( $(date +%s) - start )) s"
if grep -q 'Kernel panic' "$build/demo-console.log"; then echo "== FAIL: kernel panic"; exit 1; fi
grep -q 'generation 2 is up' "$build/demo-console.log" && grep -q 'reboot: Power down' "$build/demo-console.log" \
  && echo "== demo OK: booted, ran the stages, kexec'd into generation 2, powered off"
