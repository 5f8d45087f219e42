#!/usr/bin/env bash
# buildah on this project's own image storage, e.g. `scripts/image/buildah.sh images`.
# The storage driver is overlay when the kernel mounts overlayfs here (a layer costs only what it
# changes), else vfs (every layer a full copy of the file system: builds measured 4 times
# slower). BISECT_IMAGE_DRIVER=vfs|overlay forces one. Each driver keeps its own storage under
# BISECT_IMAGE_STORAGE (default /var/lib/containers/bisect-bot), so they never mix.
# `scripts/image/buildah.sh --driver` prints the driver it would use.
set -euo pipefail

storage="${BISECT_IMAGE_STORAGE:-/var/lib/containers/bisect-bot}"
driver="${BISECT_IMAGE_DRIVER:-}"
if [ -z "$driver" ]; then
  mkdir -p "$storage"
  probe="$(mktemp -d "$storage/.overlay-probe-XXXXXX")"
  mkdir "$probe/lower" "$probe/upper" "$probe/work" "$probe/merged"
  driver=vfs
  if mount -t overlay overlay -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" "$probe/merged" 2>/dev/null; then
    umount "$probe/merged"
    driver=overlay
  fi
  rm -rf "$probe"
fi
case "$driver" in
  vfs | overlay) ;;
  *)
    echo "buildah.sh: BISECT_IMAGE_DRIVER='$driver' is not a storage driver this script knows; use vfs or overlay." >&2
    exit 1
    ;;
esac
if [ "${1:-}" = --driver ]; then
  echo "$driver"
  exit 0
fi
exec buildah --root "$storage/$driver" --runroot "/run/containers/bisect-bot/$driver" --storage-driver "$driver" "$@"
