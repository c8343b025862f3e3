#!/usr/bin/env bash
# Builds docker/Dockerfile with buildah (chroot isolation, docker format so the HEALTHCHECK
# stays), on the stand-in base when no registry is reachable, and tags it sunset:latest.
#   scripts/image/build.sh [extra buildah bud flags]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. scripts/image/containers-env.sh
tag="${SUNSET_IMAGE:-localhost/sunset:latest}"

started=$SECONDS
bash scripts/image/node-base.sh
printf 'image: building %s from docker/Dockerfile\n' "$tag" >&2
# The machine's own settings reach the build through the stand-in base only, never build args.
buildah bud --isolation chroot --format docker --layers=false --pull=never \
  -f docker/Dockerfile -t "$tag" "$@" . >&2
printf 'image: %s built in %d s\n' "$tag" $((SECONDS - started)) >&2
# The image it replaced, now untagged, only takes room.
buildah rmi --prune >/dev/null 2>&1 || true

# What is in it: the whole, the base, and what the processes add on top of it.
size() { podman image inspect --format '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1e6 }'; }
printf 'image: %s is %s; its base docker.io/library/node:24-slim %s\n' "$tag" "$(size "$tag")" \
  "$(size docker.io/library/node:24-slim)" >&2
podman run --rm --network none --entrypoint sh "$tag" -c \
  'du -sh /app /usr/bin/tini; echo "largest packages:"; du -sk /app/node_modules/.pnpm/* | sort -rn | head -n 12' \
  2>/dev/null | sed 's/^/image:   /' >&2
