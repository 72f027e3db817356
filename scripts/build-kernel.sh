#!/usr/bin/env bash
# make kernel: a tinyconfig kernel with kernel-config/stageinit.config and
# build/initramfs.cpio built in (CONFIG_INITRAMFS_SOURCE). Source: Debian's
# linux-source-6.1 (installed if missing) or KERNEL_SRC=/path/to/linux.
# The object tree is kept in the cache, so a second run only relinks.
set -euo pipefail
cache=$1 build=$2
top=$(cd "$(dirname "$0")/.." && pwd)
frag=$top/kernel-config/stageinit.config
archive=$build/initramfs.cpio
need=""
for p in build-essential bc flex bison libelf-dev; do dpkg -s $p >/dev/null 2>&1 || need="$need $p"; done
src=${KERNEL_SRC:-}
if [ -z "$src" ]; then
  dpkg -s linux-source-6.1 >/dev/null 2>&1 || need="$need linux-source-6.1"
fi
if [ -n "$need" ]; then
  echo "installing:$need"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
fi
if [ -z "$src" ]; then
  src=$cache/linux-source-6.1
  if [ ! -f "$src/Makefile" ]; then
    echo "unpacking /usr/src/linux-source-6.1.tar.xz into $cache"
    mkdir -p "$cache" && tar -C "$cache" -xf /usr/src/linux-source-6.1.tar.xz
  fi
fi
out=$cache/kbuild
mkdir -p "$out"
stamp=$(cat "$frag" | sha256sum | cut -c1-16)
if [ ! -f "$out/.config" ] || [ "$(cat "$out/.stamp" 2>/dev/null)" != "$stamp" ]; then
  make -s -C "$src" O="$out" tinyconfig
  echo "CONFIG_INITRAMFS_SOURCE=\"$archive\"" > "$out/initramfs.config"
  (cd "$src" && KCONFIG_CONFIG="$out/.config" scripts/kconfig/merge_config.sh -m -O "$out" "$out/.config" "$frag" "$out/initramfs.config" >/dev/null)
  make -s -C "$src" O="$out" olddefconfig
  echo "$stamp" > "$out/.stamp"
fi
# The archive path is part of the config; keep it current.
sed -i "s|^CONFIG_INITRAMFS_SOURCE=.*|CONFIG_INITRAMFS_SOURCE=\"$archive\"|" "$out/.config"
start=$(date +%s)
make -s -C "$src" O="$out" -j"$(nproc)" KBUILD_BUILD_TIMESTAMP="@${SOURCE_DATE_EPOCH:-0}" \
  KBUILD_BUILD_USER=stageinit KBUILD_BUILD_HOST=stageinit bzImage
echo "kernel built in $(( $(date +%s) - start )) s"
# Every option of the fragment must be set as requested.
missing=""
while IFS= read -r line; do
  case "$line" in CONFIG_*=*) ;; *) continue;; esac
  name=${line%%=*} want=${line#*=}
  if [ "$want" = n ]; then
    if grep -q "^$name=[ym]" "$out/.config"; then missing="$missing $name"; fi
  else
    grep -qx "$name=$want" "$out/.config" || missing="$missing $name"
  fi
done < "$frag"
if [ -n "$missing" ]; then
  echo "kernel config check FAILED, not set as requested:$missing" >&2
  exit 1
fi
echo "kernel config check: every option of $(basename "$frag") is set"
cp "$out/arch/x86/boot/bzImage" "$build/bzImage"
echo "$build/bzImage: $(stat -c %s "$build/bzImage") bytes"
