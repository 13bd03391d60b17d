#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, when missing. Idempotent.
#   genisoimage: isoinfo, to read back the ISO images core writes
#   xorriso:     a second, independent ISO reader
#   chromium:    headless browser for the web bridge end-to-end tests (driven by playwright-core)
#   openssl:     the self-signed certificate of the public https test sites
#   systemd:     systemd-analyze verify checks the unit "cvmweb service install" writes. Installing it
#                starts nothing and does not make systemd the init (that is systemd-sysv): its
#                maintainer scripts only touch a running systemd when /run/systemd/system exists.
set -euo pipefail
packages=(genisoimage xorriso chromium openssl systemd)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "Installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
