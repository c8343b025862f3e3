#!/usr/bin/env bash
# Deploys the api, the worker, the CLI and the image's tree of all three (docker/package.json), as
# the Dockerfile does (pnpm deploy --prod), into a temporary folder and fails, naming the package,
# when one of them carries a test server or its dependencies: those belong to @sunset/sandboxes,
# which only tests and the demo use.
# Needs `pnpm build` first. Extra pnpm flags (e.g. --prefer-offline) are passed to `pnpm deploy`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

forbidden=(@sunset/sandboxes @atproto/pds @did-plc/server fastify @fastify/multipart @fastify/formbody selfsigned openapi-backend)
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
status=0

# Whether a package.json declares the dependency itself (the api declares fastify).
declares() { node -e 'const p=require(process.argv[1]);process.exit(p.dependencies?.[process.argv[2]]?0:1)' "$1" "$2"; }

# Where the package sits in a deployed node_modules: its top level, pnpm's virtual store
# (node_modules/.pnpm/<name with + for />@<version>/), or nested in another package there.
present() {
  local dir="$1" name="$2"
  [ -e "$dir/node_modules/$name" ] && return 0
  compgen -G "$dir/node_modules/.pnpm/${name//\//+}@*" >/dev/null && return 0
  [ -d "$dir/node_modules/.pnpm" ] &&
    [ -n "$(find "$dir/node_modules/.pnpm" -maxdepth 4 -path "*/node_modules/$name" -print -quit)" ]
}

for service in api worker cli image; do
  case $service in
    cli) manifests=(packages/cli/package.json) ;;
    # The image holds all three: what one of them declares itself is allowed in it.
    image) manifests=(services/api/package.json services/worker/package.json packages/cli/package.json) ;;
    *) manifests=("services/$service/package.json") ;;
  esac
  target="$out/$service"
  pnpm --filter "@sunset/$service" deploy --prod --legacy "$@" "$target" >"$out/$service.log" 2>&1 || {
    cat "$out/$service.log"
    echo "pnpm deploy of @sunset/$service failed"
    exit 1
  }
  found=()
  for name in "${forbidden[@]}"; do
    allowed=""
    for manifest in "${manifests[@]}"; do declares "$PWD/$manifest" "$name" && allowed=1; done
    [ -n "$allowed" ] && continue
    present "$target" "$name" && found+=("$name")
  done
  if [ ${#found[@]} -gt 0 ]; then
    echo "@sunset/$service's production deploy contains ${found[*]}"
    status=1
  else
    echo "@sunset/$service: none of the sandboxes' packages ($(du -sh "$target" | cut -f1))"
  fi
done
exit "$status"
