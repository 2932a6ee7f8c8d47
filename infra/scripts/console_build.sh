#!/usr/bin/env bash
# Builds the operator console (console/) into console/dist/, which the console function embeds
# at compile time: esbuild bundles the Preact app (versions pinned in console/package-lock.json).
# Skips what is up to date; bootstrap.sh runs it, so every make target that builds has the assets.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root/console"
if [ ! -d node_modules/esbuild ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "console: installing its build tools (npm ci)" >&2
  npm ci --silent --no-audit --no-fund >/dev/null
fi
if [ ! -f dist/index.html.gz ] || [ -n "$(find src build.mjs package-lock.json -newer dist/index.html.gz -print -quit)" ]; then
  node build.mjs >&2
fi
