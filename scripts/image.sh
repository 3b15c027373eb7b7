#!/usr/bin/env bash
# Build the microrack image for every platform with buildah, no registry needed.
#   bash scripts/image.sh [PLATFORM...]    (default: arm64 armhf riscv64 amd64)
# For each: a base image from the Debian root filesystem scripts/rootfs.sh
# caches (python3, and numpy for the twin), then deploy/Containerfile on it with the
# single-file agent (built here unless MICRORACK_PYZ names one).  Then a
# manifest list NAME (default localhost/microrack:<version>) over the four.
# The image store is /var/cache/microrack/containers (vfs, chroot isolation:
# no daemon, no overlay mounts, runs unprivileged-in-container hosts too).
# Prints one line per platform: "<platform> <image id>", then the manifest.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${MICRORACK_CACHE:-/var/cache/microrack}
PY=${PYTHON:-python3}
VERSION=$("$PY" -c 'import microrack; print(microrack.__version__.replace("+", "-"))')
NAME=${MICRORACK_IMAGE:-localhost/microrack:$VERSION}
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
B=(buildah --root "$CACHE/containers/storage" --runroot "$CACHE/containers/run")
ARCHS=("$@"); ((${#ARCHS[@]})) || ARCHS=(arm64 armhf riscv64 amd64)

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
pyz=${MICRORACK_PYZ:-}
if [ -z "$pyz" ]; then
  pyz="$work/microrack-agent.pyz"
  "$PY" -m microrack build agent --out "$pyz" --wheels "$CACHE/wheels" >&2
fi
cp deploy/Containerfile "$work/Containerfile"
[ "$pyz" = "$work/microrack-agent.pyz" ] || cp "$pyz" "$work/microrack-agent.pyz"

"${B[@]}" manifest rm "$NAME" >/dev/null 2>&1 || true
"${B[@]}" manifest create "$NAME" >/dev/null
for arch in "${ARCHS[@]}"; do
  case "$arch" in
    arm64) platform=linux/arm64 ;; armhf) platform=linux/arm/v7 ;;
    riscv64) platform=linux/riscv64 ;; amd64) platform=linux/amd64 ;;
    *) echo "image.sh: unknown platform '$arch' (arm64 armhf riscv64 amd64)" >&2; exit 2 ;;
  esac
  root=$(bash scripts/rootfs.sh "$arch")
  base="localhost/microrack-base:$(basename "$root")"
  if ! "${B[@]}" inspect --type image "$base" >/dev/null 2>&1; then
    ctr=$("${B[@]}" from scratch)
    "${B[@]}" copy --quiet "$ctr" "$root" / >/dev/null
    "${B[@]}" config --os linux --arch "${platform#linux/}" "$ctr"
    [ "$arch" = armhf ] && "${B[@]}" config --arch arm --variant v7 "$ctr"
    "${B[@]}" commit --quiet "$ctr" "$base" >/dev/null
    "${B[@]}" rm "$ctr" >/dev/null
  fi
  tag="$NAME-$arch"
  "${B[@]}" build --quiet --layers --platform "$platform" --build-arg BASE="$base" \
    -f "$work/Containerfile" -t "$tag" "$work" >&2
  "${B[@]}" manifest add "$NAME" "$tag" >/dev/null
  echo "$platform $("${B[@]}" images --noheading --format '{{.ID}}' "$tag")"
done
echo "manifest $NAME"
