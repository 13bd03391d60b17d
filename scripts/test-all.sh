#!/usr/bin/env bash
# Fresh machine → whole test suite: system packages, npm ci, lint, typecheck, tests, API docs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-packages.sh
npm ci --no-audit --no-fund
npm run lint
npm run build
npm run typecheck
npx vitest run
npm run docs
