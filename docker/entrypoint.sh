#!/bin/sh
# The image's one entry point: `api`, `worker`, or any `sunset` command line.
set -e
case "${1:-}" in
  api) shift; exec node /app/api/dist/server.js "$@" ;;
  worker) shift; exec node /app/worker/dist/main.js "$@" ;;
  *) exec node /app/cli/dist/bin.js "$@" ;;
esac
