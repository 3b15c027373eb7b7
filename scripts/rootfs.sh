#!/usr/bin/env bash
# Build (or reuse) a Debian root filesystem of one foreign architecture for the
# cross-architecture tests, cached outside the checkout and keyed by its inputs.
#   bash scripts/rootfs.sh ARCH        (arm64, armhf, riscv64, amd64)
# Prints the directory.  The cache key is the hash of this script, the suite,
# the architecture and the package list, so changing any of them builds anew
# and an unchanged one is reused.  Needs root, mmdebstrap and qemu-user-static;
# registers qemu's binfmt_misc handlers when the kernel has none yet.
set -euo pipefail
ARCH=${1:?usage: rootfs.sh ARCH}
# bookworm (Python 3.11, the oldest the agent supports) where it has the
# architecture; riscv64 became a release architecture with trixie (Python 3.13).
DEFAULT_SUITE=bookworm
[ "$ARCH" = riscv64 ] && DEFAULT_SUITE=trixie
SUITE=${MICRORACK_SUITE:-$DEFAULT_SUITE}
MIRROR=${MICRORACK_MIRROR:-http://deb.debian.org/debian}
CACHE=${MICRORACK_CACHE:-/var/cache/microrack}
# python3 runs the single-file agent; numpy is the hardware twin's (fan on the
# twin).  The same tree is the image's base (scripts/image.sh).
PACKAGES=${MICRORACK_ROOTFS_PACKAGES:-python3,python3-numpy}
case "$ARCH" in
  arm64) QEMU=aarch64 ;;
  armhf) QEMU=arm ;;
  riscv64) QEMU=riscv64 ;;
  amd64) QEMU="" ;;
  *) echo "rootfs.sh: unknown architecture '$ARCH' (arm64, armhf, riscv64, amd64)" >&2; exit 2 ;;
esac
key=$( { cat "$0"; echo "$SUITE $ARCH $PACKAGES $MIRROR"; } | sha256sum | cut -c1-16)
out="$CACHE/rootfs-$SUITE-$ARCH-${PACKAGES//[,]/-}-$key"
if [ -x "$out/usr/bin/python3" ]; then
  echo "$out"; exit 0
fi
bash "$(dirname "$0")/binfmt.sh" >&2
mkdir -p "$CACHE"
tmp=$(mktemp -d "$CACHE/.rootfs-$ARCH.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# No documentation, manual pages or translations: a slim base.
mmdebstrap --quiet --variant=minbase --architectures="$ARCH" --include="$PACKAGES" \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
  "$SUITE" "$tmp/root" "$MIRROR" >&2
rm -rf "$out"
mv "$tmp/root" "$out"
echo "$out"
