#!/usr/bin/env bash
# The baseline of `npm run bench:qemu` (a): the driver's lifecycle steps as a plain shell script of
# qemu-img, qemu-system and a QMP client (bash's /dev/tcp on a loopback QMP port). Every value
# arrives as a positional argument (never pasted into this text):
#   bash bench/qemu-baseline.sh QEMU DIR KERNEL INITRD CMDLINE CONTEXT_ISO API_PORT QMP_PORT DEADLINE_SECONDS
set -euo pipefail
export LC_ALL=C
qemu=$1 dir=$2 kernel=$3 initrd=$4 cmdline=$5 context=$6 port=$7 qmp=$8 deadline=$9

mkdir -p -- "$dir"
qemu-img create -q -f qcow2 -- "$dir/scratch.qcow2" 16M
"$qemu" -name guest=bench-script -machine pc -accel tcg -m 128 -smp 1 -nodefaults -no-user-config \
  -display none -daemonize -pidfile "$dir/qemu.pid" -qmp "tcp:127.0.0.1:$qmp,server=on,wait=off" \
  -serial null -drive "file=$dir/scratch.qcow2,format=qcow2,if=virtio,index=1" \
  -kernel "$kernel" -initrd "$initrd" -append "$cmdline" \
  -drive "file=$context,format=raw,media=cdrom,readonly=on,if=ide,index=3" \
  -netdev "user,id=net0,hostfwd=tcp:127.0.0.1:$port-:80" -device virtio-net-pci,netdev=net0,romfile=
pid=$(cat "$dir/qemu.pid")
# The guest answers HTTP through the forward (or the deadline passes: fail).
end=$((SECONDS + deadline))
until curl -sf -m 2 -o /dev/null "http://127.0.0.1:$port/"; do
  if ((SECONDS >= end)); then
    echo "the guest did not answer on port $port within $deadline s" >&2
    kill -9 "$pid"
    exit 1
  fi
  sleep 0.2
done
# ACPI power button over QMP, then wait for QEMU to end (then kill it).
exec 3<>"/dev/tcp/127.0.0.1/$qmp"
read -r _greeting <&3
echo '{"execute":"qmp_capabilities"}' >&3
read -r _answer <&3
echo '{"execute":"system_powerdown"}' >&3
read -r _answer <&3
for _ in $(seq 100); do
  [ -r "/proc/$pid/cmdline" ] && [ -n "$(tr -d '\0' <"/proc/$pid/cmdline")" ] || break
  sleep 0.1
done
exec 3>&-
kill -9 "$pid" 2>/dev/null || true
rm -rf -- "$dir"
