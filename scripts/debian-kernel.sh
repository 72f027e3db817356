#!/usr/bin/env bash
# Fetch Debian's linux-image-amd64 dependency into $1/debkernel (cached):
# apt-get download + dpkg-deb -x; prints the vmlinuz path.
set -euo pipefail
cache=$1/debkernel
if ls "$cache"/x/boot/vmlinuz-* >/dev/null 2>&1; then
  ls "$cache"/x/boot/vmlinuz-* | head -1; exit 0
fi
mkdir -p "$cache" && cd "$cache"
dep=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
if [ -z "$dep" ]; then
  apt-get update -qq
  dep=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/{print $2; exit}')
fi
apt-get download "$dep" >/dev/null 2>&1
dpkg-deb -x "${dep}"_*.deb x
rm -f "${dep}"_*.deb
ls "$cache"/x/boot/vmlinuz-* | head -1
