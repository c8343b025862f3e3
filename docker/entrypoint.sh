#!/bin/sh
# The image's one entry point: `api`, `worker`, or any `sunset` command line.
set -e
case "${1:-}" in
  api) shift; exec node /app/api/dist/server.js "$@" ;;
  # The worker's V8 flags are those of package.json's "worker" script (see tests/bench/lib.ts):
  # a small young generation, full collections once the old one has grown by half.
  worker) shift; exec node --max-semi-space-size=16 --heap-growing-percent=50 /app/worker/dist/main.js "$@" ;;
  *) exec node /app/cli/dist/bin.js "$@" ;;
esac
