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
# The watchdog driver as modules (the core is built in on arm64), and the
# power button's: evdev, and the ACPI button (amd64) or gpio-keys (arm64).
mods=()
for m in watchdog/watchdog watchdog/i6300esb input/evdev acpi/button input/keyboard/gpio_keys; do
  f=$root/lib/modules/$(basename "$vmlinuz" | sed 's/^vmlinuz-//')/kernel/drivers/$m.ko
  [ -e "$f" ] && mods+=(-file "/lib/modules/$(basename "$m").ko=$f")
done
# A minisign key made once (cached, git-ignored) signs generation 2's
# kernel, archive and command line; the key goes into both archives, so
# init refuses anything it did not sign.
keys=$cache/demo-keys
mkdir -p "$keys"
[ -f "$keys/kexec.pub" ] || minisign -G -W -p "$keys/kexec.pub" -s "$keys/kexec.key" -f >/dev/null
node=(-arch "$arch" -init "$init" -file "/bin/busybox=$busybox" -overlay examples/node -kexec-key "$keys/kexec.pub" "${mods[@]}")
"$build/mkinitramfs" -o "$build/demo-gen2.cpio.gz" "${node[@]}"
cp "$vmlinuz" "$build/demo-vmlinuz"
echo "console=$console panic=-1 log_buf_len=16M quiet watchdog.stop_on_reboot=0 demo.button stageinit.generation=2" > "$build/demo-gen2.cmdline"
minisign -S -s "$keys/kexec.key" -t "stageinit demo generation 2" -m "$build/demo-vmlinuz" "$build/demo-gen2.cpio.gz" "$build/demo-gen2.cmdline" >/dev/null
echo "== generation 2 signed with minisign key $(sed -n 's/.*public key //p' "$keys/kexec.pub")"
"$build/mkinitramfs" -o "$build/demo.cpio.gz" "${node[@]}" \
  -file /boot/vmlinuz="$build/demo-vmlinuz" -file /boot/vmlinuz.minisig="$build/demo-vmlinuz.minisig" \
  -file /boot/initrd="$build/demo-gen2.cpio.gz" -file /boot/initrd.minisig="$build/demo-gen2.cpio.gz.minisig" \
  -file /boot/cmdline="$build/demo-gen2.cmdline" -file /boot/cmdline.minisig="$build/demo-gen2.cmdline.minisig"
echo "== booting $vmlinuz with $build/demo.cpio.gz (QEMU TCG, $arch, console on $console)"
start=$(date +%s) log=$build/demo-console.log mon=$build/demo-monitor
# QEMU's monitor on a pair of FIFOs: generation 2 waits for the power
# button, and this script presses it (system_powerdown), as an operator's
# BMC or `virsh shutdown` would.
rm -f "$mon.in" "$mon.out" "$log"; mkfifo "$mon.in" "$mon.out"
exec 3<>"$mon.in" 4<>"$mon.out"
( until grep -q 'waiting for the power button' "$log" 2>/dev/null; do sleep 0.5; done
  echo "== pressing the power button: system_powerdown on QEMU's monitor"; echo system_powerdown >&3 ) &
presser=$!
trap 'kill $presser 2>/dev/null || true; rm -f "$mon.in" "$mon.out"' EXIT
# -device i6300esb: a hardware watchdog; watchdog.stop_on_reboot=0 keeps it
# counting through the kexec, so that a bad new kernel would be reset.
timeout 300 "${qemu[@]}" -m 1024 -accel tcg -smp 1 -display none -device i6300esb \
  -no-reboot -serial stdio -chardev pipe,id=mon0,path="$mon" -mon chardev=mon0 \
  -kernel "$vmlinuz" -initrd "$build/demo.cpio.gz" \
  -append "console=$console panic=-1 log_buf_len=16M quiet loglevel=7 watchdog.stop_on_reboot=0 demo.button" | tee "$log"
echo "== QEMU exited after $(( $(date +%s) - start )) s"
if grep -q 'Kernel panic' "$log"; then echo "== FAIL: kernel panic"; exit 1; fi
grep -q 'kexec: verified with minisign key' "$log" && grep -q 'generation 2 is up' "$log" && grep -q 'shutdown=poweroff' "$log" && grep -q 'reboot: Power down' "$log" \
  && echo "== demo OK: booted, ran the stages, kexec'd into a signed generation 2, powered off by the power button"
