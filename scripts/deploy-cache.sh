#!/usr/bin/env bash
# Warm the caches tests/deploy uses, outside the checkout, and say how long each took:
# the Debian root filesystems of arm64, armhf, riscv64 and amd64 (also the image's
# bases) and the booted "board" (systemd, sshd; dnsmasq, python3-venv and python3-apt
# for the playbook's tasks, as the boards have no archive to install from).  Each is
# keyed by its inputs (scripts/rootfs.sh), so a second run reuses all of them in
# about a second.
# Needs root, mmdebstrap and qemu-user-static (scripts/test.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
# Keep in step with tests/deploy/test_deploy_playbook.py (BOARD_PACKAGES).
BOARD=python3,python3-apt,python3-venv,dnsmasq,systemd,systemd-sysv,dbus,openssh-server,sudo,iproute2
total=$(date +%s)
for arch in arm64 armhf riscv64 amd64 board; do
  start=$(date +%s)
  if [ "$arch" = board ]; then
    MICRORACK_ROOTFS_PACKAGES=$BOARD bash scripts/rootfs.sh amd64 >/dev/null
  else
    bash scripts/rootfs.sh "$arch" >/dev/null
  fi
  echo "deploy cache: rootfs $arch $(( $(date +%s) - start ))s"
done
echo "deploy cache: all $(( $(date +%s) - total ))s"
