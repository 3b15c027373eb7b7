#!/usr/bin/env bash
# Make foreign executables run through qemu-user-static: mount binfmt_misc if
# needed and register Debian's qemu handlers (with the F flag, so they work
# inside a chroot) for arm, aarch64 and riscv64.  Idempotent; needs root.
set -euo pipefail
BINFMT=/proc/sys/fs/binfmt_misc
[ -e "$BINFMT/register" ] || mount -t binfmt_misc binfmt_misc "$BINFMT"
for a in aarch64 arm riscv64; do
  [ -e "$BINFMT/qemu-$a" ] && continue
  conf=/usr/lib/binfmt.d/qemu-$a.conf
  if [ ! -f "$conf" ]; then
    echo "binfmt.sh: $conf is missing (apt-get install qemu-user-static)" >&2; exit 1
  fi
  grep -v '^#' "$conf" | grep . > "$BINFMT/register"
done
