#!/bin/sh
# Removes from a deployed production tree what no process reads at run time: the native addons'
# sources, intermediate build files and prebuilt binaries for other platforms (this one's stay),
# TypeScript declarations and source maps of dependencies, and the image package's own files.
set -eu
app="$1"
store="$app/node_modules/.pnpm"
for addon in "$store"/better-sqlite3@*/node_modules/better-sqlite3; do
  [ -d "$addon" ] || continue
  rm -rf "$addon/deps" "$addon/src" "$addon/build/Release/obj.target" "$addon/build/Release/.deps" \
    "$addon/build/Release/obj" "$addon/build/Release/test_extension.node" "$addon/build/deps" \
    "$addon/build/"*.mk "$addon/build/Makefile" "$addon/build/config.gypi"
done
# Prebuilt binaries are named <platform>-<arch>[…]; linuxmusl-x64 is not linux-x64.
here="$(node -p 'process.platform + "-" + process.arch')"
find "$store" -type d -name prebuilds -prune | while read -r dir; do
  for entry in "$dir"/*; do
    case "$(basename "$entry")" in "$here" | "$here".* | "$here"-* | "$here"@*) ;; *) rm -rf "$entry" ;; esac
  done
done
rm -rf "$store"/@types+*
find "$store" -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \) \
  -not -path '*/@sunset+*' -delete
rm -f "$app/Dockerfile" "$app/entrypoint.sh" "$app/prune.sh"
