#!/usr/bin/env bash
# Builds the tiny test guest offline from this machine's Debian packages (linux-image-amd64,
# busybox-static, isolinux, xorriso; scripts/libvirt-up.sh installs them):
#
#   OUT/vmlinuz        the Debian kernel
#   OUT/initrd.gz      a busybox initramfs whose /init is `init` beside this script
#   OUT/tiny-guest.iso both on an ISO 9660 image booted by isolinux; hybrid, so the same file
#                      boots as a cdrom and as a raw disk
#
# Usage: build.sh OUT    (about a second; OUT is created). The same packages give the same bytes:
# file times, order and owners are fixed, and so are the compressor's and xorriso's dates.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 OUT" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
KERNEL=${KERNEL:-$(ls /lib/modules | sort -V | tail -n 1)}
[ -f "/boot/vmlinuz-$KERNEL" ] || { echo "no kernel $KERNEL: install linux-image-amd64" >&2; exit 1; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
ROOT=$WORK/root
mkdir -p "$ROOT"/{bin,etc/acpi,lib/modules}
cp /bin/busybox "$ROOT/bin/busybox"
install -m 0755 "$HERE/init" "$ROOT/init"
install -m 0755 "$HERE/udhcpc.script" "$ROOT/etc/udhcpc.script"
install -m 0755 "$HERE/power-button.sh" "$ROOT/etc/acpi/power-button.sh"
install -m 0755 "$HERE/power-button-ignored.sh" "$ROOT/etc/acpi/power-button-ignored.sh"
echo 'PWRF power-button.sh' > "$ROOT/etc/acpid.conf"
echo 'PWRF power-button-ignored.sh' > "$ROOT/etc/acpid-ignore.conf"

# Drivers for every disk bus and NIC model CloudSigma offers (virtio, IDE; virtio, e1000,
# rtl8139, the e100 family, ne2k_pci, pcnet), the power button, and what they need, in
# dependency order.
for module in virtio_pci virtio_blk virtio_net ata_piix sd_mod e1000 e100 8139cp 8139too \
  ne2k-pci pcnet32 button evdev; do
  modprobe -S "$KERNEL" --show-depends "$module" | awk '$1 == "insmod" {print $2}'
done | awk '!seen[$0]++' | while read -r path; do
  cp "$path" "$ROOT/lib/modules/"
  basename "$path" >> "$ROOT/lib/modules/order"
done

find "$ROOT" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$ROOT" && find . -print0 | LC_ALL=C sort -z |
  cpio --null --create --format=newc --owner=0:0 --reproducible --quiet) |
  gzip -9 -n > "$OUT/initrd.gz"
cp "/boot/vmlinuz-$KERNEL" "$OUT/vmlinuz"

ISO=$WORK/iso
mkdir -p "$ISO/isolinux"
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 "$ISO/isolinux/"
cp "$HERE/isolinux.cfg" "$ISO/isolinux/isolinux.cfg"
cp "$OUT/vmlinuz" "$OUT/initrd.gz" "$ISO/"
find "$ISO" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
xorriso -as mkisofs -quiet -o "$OUT/tiny-guest.iso" -V TINY_GUEST \
  -isohybrid-mbr /usr/lib/ISOLINUX/isohdpfx.bin \
  -c isolinux/boot.cat -b isolinux/isolinux.bin \
  -no-emul-boot -boot-load-size 4 -boot-info-table "$ISO" 2>/dev/null
