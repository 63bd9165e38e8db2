#!/usr/bin/env bash
# Installs node dependencies when node_modules is missing or older than package-lock.json,
# so that a fresh clone needs nothing but `npm start` / `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.crr-lock-hash
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[crr] installing node dependencies (npm ci)..." >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$want" > "$stamp"
fi
