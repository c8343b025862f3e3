#!/usr/bin/env bash
# Runs the container image's smoke test (tests/image/smoke.test.ts) with podman on this machine's
# settings: the image built by scripts/image/build.sh, the sandboxes on the host, a fresh
# PostgreSQL database and private Redis servers. Stops and removes everything it started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. scripts/image/containers-env.sh
export SUNSET_IMAGE="${SUNSET_IMAGE:-localhost/sunset:latest}"
started=$SECONDS
pnpm --filter @sunset/tests run test:image
printf 'image: smoke test of %s passed in %d s\n' "$SUNSET_IMAGE" $((SECONDS - started)) >&2
