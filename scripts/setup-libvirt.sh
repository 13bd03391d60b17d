#!/usr/bin/env bash
# Installs libvirt/QEMU from Debian's packages and starts the daemons without systemd.
# Idempotent: safe to run again; starts only daemons that are not running (by pid file).
# Environment: CVMWEB_LIBVIRT_RUN (pid-file directory, default /run/cvmweb-libvirt).
set -euo pipefail

RUN_DIR="${CVMWEB_LIBVIRT_RUN:-/run/cvmweb-libvirt}"
PACKAGES=(qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients busybox-static cpio xz-utils
  isolinux syslinux-common genisoimage xorriso openssh-server curl)

log() { printf 'setup-libvirt: %s\n' "$*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
  SUDO=sudo
else
  SUDO=
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Without udev /dev/kvm stays root:root 0600 and libvirt re-probes QEMU on every start.
if [[ -e /dev/kvm ]] && getent group kvm >/dev/null; then
  $SUDO chgrp kvm /dev/kvm || true
  $SUDO chmod 0660 /dev/kvm || true
fi

$SUDO mkdir -p "$RUN_DIR"

running() { # pidfile
  [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

# A daemon may already run under the distribution's own pid file (systemd, another script).
if ! running "$RUN_DIR/virtlogd.pid" && ! running /run/virtlogd.pid && ! pgrep -x virtlogd >/dev/null; then
  log 'starting virtlogd'
  $SUDO virtlogd -d -p "$RUN_DIR/virtlogd.pid"
fi
if ! running "$RUN_DIR/libvirtd.pid" && ! running /run/libvirtd.pid && ! pgrep -x libvirtd >/dev/null; then
  log 'starting libvirtd'
  $SUDO libvirtd -d -p "$RUN_DIR/libvirtd.pid"
fi

for _ in $(seq 1 300); do
  if LC_ALL=C virsh -c qemu:///system version >/dev/null 2>&1; then
    log "libvirt answers: $(LC_ALL=C virsh -c qemu:///system version --daemon 2>/dev/null | grep -i 'running hypervisor' || true)"
    exit 0
  fi
  sleep 0.1
done
log 'libvirtd did not answer at qemu:///system within 30 s'
exit 1
