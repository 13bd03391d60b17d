#!/usr/bin/env bash
# Fresh machine → the main job: install, build, and run cvmweb.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund
npm run build
exec node packages/cli/dist/bin.js detect "$@"
