#!/usr/bin/env bash
# Builds the project image (the root Dockerfile) with buildah on the local node base image, which
# it builds first when missing (build-base.sh). As root; needs buildah and mmdebstrap.
#   scripts/image/build.sh [tag]        (default localhost/bisect-bot:latest)
# Then: scripts/image/buildah.sh images; the image test runs it (test/image/image.test.ts).
# With Docker instead: `docker build -t bisect-bot .` builds from the official node image.
set -euo pipefail
cd "$(dirname "$0")/../.."

tag="${1:-localhost/bisect-bot:latest}"
base="${NODE_BASE_IMAGE:-localhost/bisect-bot-node-base:24}"
scripts/image/build-base.sh "$base"

# Cached layers (npm ci is skipped while the lockfile is unchanged) only where layers are cheap:
# with vfs each one is a full copy, and one commit per stage was measured 3.6 times faster.
layers=--layers=false
[ "$(scripts/image/buildah.sh --driver)" = overlay ] && layers=--layers
# Docker's image format: the OCI format has no HEALTHCHECK, and buildah would drop it.
exec scripts/image/buildah.sh bud --isolation chroot --format docker "$layers" \
  --build-arg NODE_IMAGE="$base" --tag "$tag" .
