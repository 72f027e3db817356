#!/bin/bash
# kexec-tools.sh CACHE: builds a static kexec (kexec-tools from Debian's
# source tarball, without Xen, zlib or lzma) into CACHE once, for the
# update downtime benchmark's peer, and prints its path.
set -euo pipefail
cache=$(realpath "$1")
v=2.0.25
out=$cache/kexec-tools-$v/kexec
if [ ! -x "$out" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  curl -sSfL -o "$work/src.tar.xz" "http://deb.debian.org/debian/pool/main/k/kexec-tools/kexec-tools_$v.orig.tar.xz"
  tar -C "$work" -xf "$work/src.tar.xz"
  (cd "$work/kexec-tools-$v" && ./configure -q --without-xen --without-lzma --without-zlib LDFLAGS=-static >/dev/null &&
    make -s -j"$(nproc)" >/dev/null 2>&1)
  mkdir -p "$(dirname "$out")"
  strip -o "$out" "$work/kexec-tools-$v/build/sbin/kexec"
fi
echo "$out"
