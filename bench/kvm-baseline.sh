#!/usr/bin/env bash
# The baseline of `npm run bench:kvm` (a): the driver's lifecycle steps as a plain shell script of
# qemu-img/virsh/curl. Every value arrives as a positional argument (never pasted into this text):
#   bash bench/kvm-baseline.sh URI DOMAIN_XML NAME PORT SCRATCH DEADLINE_SECONDS
set -euo pipefail
export LC_ALL=C
uri=$1 xml=$2 name=$3 port=$4 scratch=$5 deadline=$6

qemu-img create -q -f qcow2 -- "$scratch" 16M
virsh -c "$uri" define -- "$xml" >/dev/null
virsh -c "$uri" start -- "$name" >/dev/null
# The guest answers HTTP through the forward (or the deadline passes: fail).
end=$((SECONDS + deadline))
until curl -sf -m 2 -o /dev/null "http://127.0.0.1:$port/"; do
  if ((SECONDS >= end)); then
    echo "the guest did not answer on port $port within $deadline s" >&2
    exit 1
  fi
  sleep 0.2
done
virsh -c "$uri" shutdown "$name" --mode acpi >/dev/null
for _ in $(seq 100); do
  [ "$(virsh -c "$uri" domstate -- "$name")" = "shut off" ] && break
  sleep 0.1
done
virsh -c "$uri" destroy -- "$name" >/dev/null 2>&1 || true
virsh -c "$uri" undefine -- "$name" >/dev/null
rm -f -- "$scratch"
