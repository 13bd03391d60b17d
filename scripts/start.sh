#!/usr/bin/env bash
# Fresh machine → the main job: install, build, and serve the web bridge on 127.0.0.1:5624.
# Uses the best hypervisor found here, or the simulated one (with a loud banner) when none is usable.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund
npm run build
exec node packages/cli/dist/bin.js serve --fallback mock "$@"
