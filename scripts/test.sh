#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh Debian machine, then run it.
#   bash scripts/test.sh [pytest args...]
# Installs Debian packages with apt-get (as root, or through sudo), creates
# .venv with microrack and its test extras, and runs pytest.  Under CI=true a
# test whose real component is missing fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  prometheus prometheus-node-exporter prometheus-alertmanager victoria-metrics
  dnsmasq-base fio iperf3 chromium iproute2 systemd
  nfs-kernel-server cloud-init curl util-linux
  # tests/deploy: foreign root filesystems, qemu, the image, booted "boards"
  mmdebstrap qemu-user-static buildah openssh-client systemd-container
  # tests/agent: a real container for the cgroup collector (runc: crun refuses the hybrid layout)
  podman runc busybox-static
  # tests/faults: partitions (nft) and the netem refusal (tc, in iproute2)
  nftables
  # tests/spec: the chaos polkit rule, evaluated by a JavaScript engine as polkitd does
  nodejs
  # tests/chaos: a real etcd quorum under a partition
  etcd-server etcd-client
)

need=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian starts the daemons it installs; the tests start their own.
  for svc in prometheus prometheus-node-exporter prometheus-alertmanager victoria-metrics \
      nfs-server rpcbind etcd; do
    $SUDO systemctl stop "$svc" >/dev/null 2>&1 || true
  done
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

mkdir -p test-artifacts
# Root filesystems for tests/deploy, cached in /var/cache/microrack (cold: tens of
# minutes under qemu; warm: seconds).  Only when tests/deploy is part of the run.
deploy=1
for a in "$@"; do
  case "$a" in tests/deploy*) deploy=1; break ;; tests/*) deploy=0 ;; esac
done
if [ "$deploy" = 1 ] && [ "$(id -u)" -eq 0 ]; then
  bash scripts/deploy-cache.sh || echo "deploy cache: failed; tests/deploy will say why"
fi
.venv/bin/python -m pytest "$@"
