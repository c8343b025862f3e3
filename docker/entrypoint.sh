#!/bin/sh
# The image's one entry point: `api`, `worker`, or any `sunset` command line.
set -e
case "${1:-}" in
  api) shift; exec node /app/api/dist/server.js "$@" ;;
  # The worker's V8 flags (services/worker/node-flags, deployed beside dist/) keep its heap near
  # its live size without pausing crises (docs/performance-notes.md).
  # shellcheck disable=SC2046 # the flags are meant to split into words
  worker) shift; exec node $(cat /app/worker/node-flags) /app/worker/dist/main.js "$@" ;;
  *) exec node /app/cli/dist/bin.js "$@" ;;
esac
