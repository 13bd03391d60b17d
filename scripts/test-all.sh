#!/usr/bin/env bash
# Fresh machine → whole test suite: system packages, libvirt, npm ci, lint, build, typecheck,
# tests (the KVM driver's on the real libvirt daemon), API docs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-packages.sh
npm ci --no-audit --no-fund
# libvirtd and virtlogd started here are stopped again by their pid files, whatever happens.
trap 'bash scripts/stop-libvirt.sh' EXIT
npm run setup:libvirt
npm run lint
npm run build
npm run typecheck
# The single-file cvmweb (packages/cli/build/sea/cvmweb); its smoke test in the unit project runs it
# with no Node.js on PATH, and may not skip itself here.
npm run build:sea
# Vitest's `unit` project (everything but the real-libvirt tests, files in parallel); then its
# `libvirt` project (`*.libvirt.test.ts`: real guests under TCG sharing one storage pool; `*.real-qemu.test.ts`: real guests of QEMU run directly), one file at
# a time, so two cores are not oversubscribed (vitest.config.ts).
CVMWEB_REQUIRE_SEA=1 npx vitest run --project unit
# The conformance suite has teeth: every deliberately broken variant of the mock driver fails it.
node scripts/conformance-mutants.mjs
# The driver guide's test file runs as written in a project outside the workspace, on our packed
# tarballs (it builds the test guest from node_modules, or finds it in the cache).
node scripts/test-guide.mjs
# Our packages as npm users get them: packed, linted (publint, arethetypeswrong), installed in a
# project outside the workspace, README examples type-checked and run there, ESM-only policy
# checked, `npx cvmweb detect` and `serve` → /info.
npm run test:packed
npx vitest run --project libvirt
npm run docs
