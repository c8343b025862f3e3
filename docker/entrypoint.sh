#!/bin/sh
# The image's one entry point: `api`, `worker`, `healthcheck`, or any `sunset` command line.
# tini runs it as PID 1's child, so SIGTERM reaches node and the graceful shutdown runs.
set -e
app=/app/node_modules/@sunset
case "${1:-}" in
  api) shift; exec node "$app/api/dist/server.js" "$@" ;;
  # The worker's V8 flags (services/worker/node-flags, deployed beside dist/) keep its heap near
  # its live size without pausing crises (docs/performance-notes.md).
  # shellcheck disable=SC2046 # the flags are meant to split into words
  worker) shift; exec node $(cat "$app/worker/node-flags") "$app/worker/dist/main.js" "$@" ;;
  # The image's HEALTHCHECK: a worker's heartbeat file younger than 60 s, else the api's /readyz.
  healthcheck)
    if [ -n "${SUNSET_HEARTBEAT_FILE:-}" ] && [ -e "$SUNSET_HEARTBEAT_FILE" ]; then
      [ -n "$(find "$SUNSET_HEARTBEAT_FILE" -mmin -1)" ] || { echo "worker heartbeat older than 60 s"; exit 1; }
      exit 0
    fi
    exec node -e "fetch('http://127.0.0.1:' + (process.env.SUNSET_API_PORT || 8080) + '/readyz')
      .then((r) => { if (!r.ok) console.log('readyz ' + r.status); process.exit(r.ok ? 0 : 1); },
        (e) => { console.log(String(e.cause?.code ?? e.message)); process.exit(1); })" ;;
  *) exec node "$app/cli/dist/bin.js" "$@" ;;
esac
