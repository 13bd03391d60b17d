#!/usr/bin/env bash
# Builds the cvmweb test guest from Debian packages and caches it between runs:
#   vmlinux      the stock Debian kernel as an ELF, for PVH direct boot (fastest under TCG)
#   vmlinuz      the same kernel as a bzImage (what isolinux boots)
#   initrd.gz    a busybox-static initramfs (init, beside this script)
#   cmdline      the kernel command line for direct boot (the screen, a bochs framebuffer, is 1024x768)
#   guest.iso    a bootable isolinux ISO of it (the CernVM path: boot from CD-ROM), hybrid: it
#                boots as a disk too
#   guest.qcow2  that hybrid image as a qcow2 disk (for hypervisors that boot disks)
#   SHA256SUMS   the checksums, as sha256sum writes them
# Prints the output directory on stdout. Environment: CVMWEB_TEST_GUEST_CACHE (cache root,
# default ${XDG_CACHE_HOME:-~/.cache}/cvmweb-test-guest).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SOURCE="$HERE"
CACHE="${CVMWEB_TEST_GUEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cvmweb-test-guest}"
MODULES=(virtio_pci virtio_net virtio_blk cdrom sr_mod isofs ata_piix ata_generic button evdev qemu_fw_cfg bochs)

log() { printf 'build-test-guest: %s\n' "$*" >&2; }
# need TOOL PACKAGE: the Debian package that provides each tool, so any author can install it.
need() { command -v "$1" >/dev/null || { log "missing $1 (Debian/Ubuntu: apt-get install $2)"; exit 1; }; }
need apt-get apt
need dpkg dpkg
need cpio cpio
need gzip gzip
need xz xz-utils
need xorriso xorriso
need qemu-img qemu-utils
[[ -x /bin/busybox ]] || { log 'missing /bin/busybox (apt-get install busybox-static)'; exit 1; }
[[ -f /usr/lib/ISOLINUX/isohdpfx.bin ]] || { log 'missing isolinux (apt-get install isolinux syslinux-common)'; exit 1; }

kernel_pkg="$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n 1)"
[[ -n $kernel_pkg ]] || { log 'cannot resolve linux-image-amd64 (run apt-get update)'; exit 1; }
kernel_version="$(apt-cache policy "$kernel_pkg" | sed -n 's/^ *Candidate: //p')"
busybox_version="$(dpkg-query -W -f='${Version}' busybox-static)"
isolinux_version="$(dpkg-query -W -f='${Version}' isolinux)"
script_hash="$(cat "${BASH_SOURCE[0]}" "$SOURCE"/init "$SOURCE"/udhcpc.script "$SOURCE"/cgi-bin/* | sha256sum | cut -c1-12)"
key="$kernel_pkg-$kernel_version-bb$busybox_version-il$isolinux_version-$script_hash"
key="${key//[^A-Za-z0-9._-]/_}"
OUT="$CACHE/$key"

if [[ -s $OUT/SHA256SUMS ]] && (cd "$OUT" && sha256sum --quiet -c SHA256SUMS >/dev/null 2>&1); then
  echo "$OUT"
  exit 0
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
log "building $key"
(cd "$WORK" && apt-get download -q "$kernel_pkg" >/dev/null)
mkdir "$WORK/kernel"
dpkg --fsys-tarfile "$WORK"/linux-image-*.deb | tar -x -C "$WORK/kernel" --wildcards './boot/vmlinuz-*' './lib/modules/*' 2>/dev/null ||
  dpkg --fsys-tarfile "$WORK"/linux-image-*.deb | tar -x -C "$WORK/kernel"
vmlinuz="$(ls "$WORK"/kernel/boot/vmlinuz-*)"
moddir="$(ls -d "$WORK"/kernel/lib/modules/*)"

# vmlinux: the compressed payload of the bzImage, found by its magic (as extract-vmlinux does).
extract_vmlinux() {
  local magic tool offset
  for pair in $'\xfd7zXZ:xz -dc' $'\x1f\x8b\x08:gzip -dc' $'\x28\xb5\x2f\xfd:zstd -dcq'; do
    magic="${pair%%:*}"
    tool="${pair#*:}"
    for offset in $(LC_ALL=C grep -obUaF -- "$magic" "$vmlinuz" | cut -d: -f1); do
      if tail -c +$((offset + 1)) "$vmlinuz" | $tool >"$WORK/vmlinux" 2>/dev/null ||
        [[ -s $WORK/vmlinux ]]; then
        if [[ $(head -c 4 "$WORK/vmlinux") == $'\x7fELF' ]]; then return 0; fi
      fi
    done
  done
  return 1
}
extract_vmlinux || { log 'cannot extract vmlinux from the bzImage'; exit 1; }

# The modules with their dependencies, in load order. The package ships no modules.dep (depmod
# writes it on installation), so the dependencies are read from each module's .modinfo strings.
declare -A seen=()
ordered=()
module_file() {
  find "$moddir/kernel" -regextype posix-extended -regex ".*/${1//[_-]/[_-]}\.ko(\.(xz|zst))?" | head -n 1
}
module_depends() {
  case "$1" in
  *.xz) xz -dc "$1" ;;
  *.zst) zstd -dcq "$1" ;;
  *) cat "$1" ;;
  esac | LC_ALL=C grep -aoE 'depends=[A-Za-z0-9_,-]*' | head -n 1 | cut -d= -f2 | tr ',' ' '
}
resolve() {
  local name="$1" path dep
  path="$(module_file "$name")"
  [[ -n $path ]] || return 0 # built into the kernel
  [[ -n ${seen[$path]:-} ]] && return 0
  seen[$path]=1
  for dep in $(module_depends "$path"); do resolve "$dep"; done
  ordered+=("$path")
}
for module in "${MODULES[@]}"; do resolve "$module"; done

ROOT="$WORK/root"
mkdir -p "$ROOT"/{bin,dev,proc,sys,etc/www/cgi-bin,lib/modules,tmp,www,ctx}
cp /bin/busybox "$ROOT/bin/busybox"
for applet in $("$ROOT/bin/busybox" --list); do
  [[ -e $ROOT/bin/$applet ]] || ln -s busybox "$ROOT/bin/$applet"
done
ln -sf busybox "$ROOT/bin/sh"
: >"$ROOT/etc/modules"
for path in "${ordered[@]}"; do
  file="$(basename "$path")"
  case "$file" in
  *.ko.xz) xz -dc "$path" >"$ROOT/lib/modules/${file%.xz}" && file="${file%.xz}" ;;
  *.ko.zst) zstd -dcq "$path" >"$ROOT/lib/modules/${file%.zst}" && file="${file%.zst}" ;;
  *) cp "$path" "$ROOT/lib/modules/$file" ;;
  esac
  echo "$file" >>"$ROOT/etc/modules"
done
install -m 0755 "$SOURCE/init" "$ROOT/init"
install -m 0755 "$SOURCE/udhcpc.script" "$ROOT/etc/udhcpc.script"
install -m 0755 "$SOURCE"/cgi-bin/* "$ROOT/etc/www/cgi-bin/"

mkdir -p "$WORK/out"
(cd "$ROOT" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) | gzip -9n >"$WORK/out/initrd.gz"
cp "$WORK/vmlinux" "$WORK/out/vmlinux"
cp "$vmlinuz" "$WORK/out/vmlinuz"
echo 'console=ttyS0 quiet panic=-1 video=1024x768' >"$WORK/out/cmdline"

ISO="$WORK/iso"
mkdir -p "$ISO/isolinux" "$ISO/boot"
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 "$ISO/isolinux/"
cp "$vmlinuz" "$ISO/boot/vmlinuz"
cp "$WORK/out/initrd.gz" "$ISO/boot/initrd.gz"
cat >"$ISO/isolinux/isolinux.cfg" <<'CFG'
DEFAULT guest
PROMPT 0
TIMEOUT 0
LABEL guest
  KERNEL /boot/vmlinuz
  APPEND initrd=/boot/initrd.gz console=ttyS0 quiet panic=-1 video=1024x768
CFG
xorriso -as mkisofs -quiet -o "$WORK/out/guest.iso" -V CVMWEB_TEST_GUEST \
  -isohybrid-mbr /usr/lib/ISOLINUX/isohdpfx.bin -b isolinux/isolinux.bin -c isolinux/boot.cat \
  -no-emul-boot -boot-load-size 4 -boot-info-table -J -R "$ISO" 2>/dev/null
qemu-img convert -f raw -O qcow2 "$WORK/out/guest.iso" "$WORK/out/guest.qcow2"

(cd "$WORK/out" && sha256sum vmlinux vmlinuz initrd.gz guest.iso guest.qcow2 >SHA256SUMS)
mkdir -p "$CACHE"
# Another build of the same key may have finished meanwhile (parallel test runs): keep its files,
# which a running test may be reading, and drop ours.
if [[ -s $OUT/SHA256SUMS ]] && (cd "$OUT" && sha256sum --quiet -c SHA256SUMS >/dev/null 2>&1); then
  echo "$OUT"
  exit 0
fi
rm -rf "$OUT"
mv "$WORK/out" "$OUT"
log "built in $OUT ($(du -sh "$OUT" | cut -f1))"
echo "$OUT"
