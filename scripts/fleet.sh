#!/usr/bin/env bash
# make fleet [NODES=3]: PXE-boot NODES QEMU nodes from dnsmasq (DHCP, TFTP)
# and busybox httpd on a bridge with one tap per node, publish a signed
# update, and show each node go through generation 1, kexec, generation 2
# and power off. Everything runs in a network namespace of its own, which
# is removed on exit (also on Ctrl-C or failure) with all it holds.
# Prints a summary; exits 1 unless every node powered off in generation 2.
set -euo pipefail
cache=$1 build=$2 nodes=${3:-3}
top=$(cd "$(dirname "$0")/.." && pwd)
ex=$top/examples/fleet
vmlinuz=$(bash "$top/scripts/debian-kernel.sh" "$cache" amd64)
modules=$(dirname "$vmlinuz")/../lib/modules/$(basename "$vmlinuz" | sed 's/^vmlinuz-//')
dir=$build/fleet ns=stageinit-fleet-$$ server=10.77.0.1
rm -rf "$dir"; mkdir -p "$dir/www/update" "$dir/tftp"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
nsx() { ip netns exec "$ns" "$@"; }
fail() { echo "fleet: $*" >&2; exit 1; }

# The network: a bridge with the server's address and a tap per node.
ip netns add "$ns" || fail "cannot make a network namespace (ip netns add: run as root)"
nsx ip link set lo up
nsx ip link add br0 type bridge || fail "cannot make a bridge in $ns"
nsx ip addr add $server/24 dev br0
nsx ip link set br0 up
for i in $(seq "$nodes"); do
  nsx ip tuntap add "tap$i" mode tap || fail "cannot make tap$i (/dev/net/tun)"
  nsx ip link set "tap$i" master br0 up
done

# What the servers serve: the archive (with the fleet's key), the kernel,
# and later the signed update.
keys=$cache/demo-keys
mkdir -p "$keys"
[ -f "$keys/kexec.pub" ] || minisign -G -W -p "$keys/kexec.pub" -s "$keys/kexec.key" -f >/dev/null
"$build/mkinitramfs" -o "$dir/www/node.cpio.gz" -init "$build/init" -file /bin/busybox=/bin/busybox \
  -overlay "$ex/node" -file /lib/modules/e1000.ko="$modules/kernel/drivers/net/ethernet/intel/e1000/e1000.ko" \
  -kexec-key "$keys/kexec.pub" 2>/dev/null
cp "$vmlinuz" "$dir/www/vmlinuz"
sed "s/@SERVER@/$server/g" "$ex/boot.ipxe" > "$dir/tftp/boot.ipxe"
sed -e "s/@SERVER@/$server/g" -e "s/@IFACE@/br0/" -e "s/@RANGE@/10.77.0.10,10.77.0.99/" -e "s|@TFTP@|$dir/tftp|" \
  "$ex/dnsmasq.conf" > "$dir/dnsmasq.conf"
# --user=root: the TFTP root is under the build directory, which user nobody
# (dnsmasq's default) may not be able to read.
nsx dnsmasq --keep-in-foreground --user=root --conf-file="$dir/dnsmasq.conf" --log-facility="$dir/dnsmasq.log" --pid-file= &
pids+=($!)
nsx busybox httpd -f -p $server:8080 -h "$dir/www" &
pids+=($!)
sleep 0.5
for p in "${pids[@]}"; do
  kill -0 "$p" 2>/dev/null || fail "dnsmasq or httpd did not start: $(tail -3 "$dir/dnsmasq.log" 2>/dev/null)"
done

# The nodes: e1000 NICs whose iPXE ROM boots from the network.
boot_node() {
  local i=$1
  nsx qemu-system-x86_64 -m 1024 -accel tcg -smp 1 -display none -no-reboot -monitor none \
    -netdev tap,id=n0,ifname="tap$i",script=no,downscript=no -device e1000,netdev=n0,mac=52:54:00:77:00:$(printf %02x "$i"),romfile=/usr/lib/ipxe/qemu/pxe-e1000.rom \
    -boot n -serial file:"$dir/node$i.log" &
  eval "qemu$i=$!"
  pids+=($!)
}
start=$(date +%s)
for i in $(seq "$nodes"); do boot_node "$i"; eval "tries$i=1"; done

# Publish the update once every node waits for one; a node whose firmware
# got no DHCP lease in time is reset once, as a BMC would.
published=0
while :; do
  waiting=0 running=0
  for i in $(seq "$nodes"); do
    log=$dir/node$i.log q=qemu$i t=tries$i
    if kill -0 "${!q}" 2>/dev/null; then running=$((running+1)); else e=end$i; [ -n "${!e:-}" ] || eval "end$i=$(( $(date +%s) - start ))"; fi
    grep -q 'waiting for an update' "$log" 2>/dev/null && waiting=$((waiting+1))
    if ! grep -q 'fleet: generation 1 up' "$log" 2>/dev/null && [ $(( $(date +%s) - start )) -gt $((90 * ${!t})) ] && [ "${!t}" -lt 2 ]; then
      echo "fleet: node $i has not booted after $((90 * ${!t})) s (firmware DHCP or download): resetting it"
      kill "${!q}" 2>/dev/null || true; eval "tries$i=2"; boot_node "$i"
    fi
  done
  if [ $published = 0 ] && [ $waiting = "$nodes" ]; then
    cp "$vmlinuz" "$dir/www/update/vmlinuz"
    cp "$dir/www/node.cpio.gz" "$dir/www/update/node.cpio.gz"
    echo "console=ttyS0 panic=-1 quiet loglevel=5 fleet.update=2" > "$dir/www/update/cmdline"
    minisign -S -s "$keys/kexec.key" -t "fleet update 2" -m "$dir/www/update/vmlinuz" "$dir/www/update/node.cpio.gz" \
      "$dir/www/update/cmdline" >/dev/null
    touch "$dir/www/update/published"; published=1
    echo "fleet: update published and signed ($(( $(date +%s) - start )) s)"
  fi
  [ $running = 0 ] && break
  [ $(( $(date +%s) - start )) -gt 600 ] && { echo "fleet: still running after 600 s"; break; }
  sleep 1
done

# The summary.
ok=0
printf '%-6s %-12s %-12s %-8s %-8s %s\n' node address generations reason time result
for i in $(seq "$nodes"); do
  log=$dir/node$i.log t=tries$i e=end$i
  addr=$(sed -n 's/.*fleet: address \([0-9.]*\).*/\1/p' "$log" | head -1)
  gens=$(grep -o 'fleet: generation [0-9]* up' "$log" | awk '{print $3}' | paste -sd' ')
  reason=$(sed -n 's/.*fleet: generation 2 up, reason \([a-z]*\).*/\1/p' "$log" | head -1)
  result=FAIL
  grep -q 'fleet: done' "$log" && grep -q 'reboot: Power down' "$log" && result=ok
  [ "${!t}" -gt 1 ] && result="$result (reset once)"
  [ "${result%% *}" = ok ] || ok=1
  printf '%-6s %-12s %-12s %-8s %-8s %s\n' "node$i" "${addr:--}" "${gens:--}" "${reason:--}" "${!e:-?}s" "$result"
done
exit $ok
