#!/usr/bin/env bash
# Stops the libvirt daemons that scripts/setup-libvirt.sh started, by their pid files.
# Daemons it did not start (their pid files are elsewhere) are left alone.
set -euo pipefail
RUN_DIR="${CVMWEB_LIBVIRT_RUN:-/run/cvmweb-libvirt}"
SUDO=
[[ $(id -u) -eq 0 ]] || SUDO=sudo
for name in libvirtd virtlogd; do
  file="$RUN_DIR/$name.pid"
  [[ -s $file ]] || continue
  pid=$(cat "$file")
  if $SUDO kill -0 "$pid" 2>/dev/null; then
    $SUDO kill "$pid"
    for _ in $(seq 1 50); do $SUDO kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  $SUDO rm -f "$file"
done
