#!/usr/bin/env bash
# Fetch Debian's linux-image-ARCH dependency (and, for another
# architecture than the host's, busybox-static of that architecture) into
# $1/debkernel (amd64) or $1/debkernel-ARCH, cached: apt-get download +
# dpkg-deb -x. Prints the vmlinuz path; busybox is at x/bin/busybox there.
set -euo pipefail
arch=${2:-amd64}
mkdir -p "$1"
cache=$(cd "$1" && pwd)/debkernel
[ "$arch" = amd64 ] || cache=$cache-$arch
if ls "$cache"/x/boot/vmlinuz-* >/dev/null 2>&1; then
  ls "$cache"/x/boot/vmlinuz-* | head -1; exit 0
fi
mkdir -p "$cache" && cd "$cache"
suffix=""
if [ "$arch" != "$(dpkg --print-architecture)" ]; then
  suffix=":$arch"
  if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
    dpkg --add-architecture "$arch"
    apt-get update -qq
  fi
fi
dep=$(apt-cache depends "linux-image-$arch$suffix" 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
if [ -z "$dep" ]; then
  apt-get update -qq
  dep=$(apt-cache depends "linux-image-$arch$suffix" | awk '/Depends: linux-image-/{print $2; exit}')
fi
pkgs="${dep%%:*}$suffix"
[ -z "$suffix" ] || pkgs="$pkgs busybox-static$suffix"
apt-get download $pkgs >/dev/null 2>&1
for deb in *.deb; do dpkg-deb -x "$deb" x; done
rm -f ./*.deb
ls "$cache"/x/boot/vmlinuz-* | head -1
