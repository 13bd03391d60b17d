#!/usr/bin/env node
// `npm run lint:lines`: fails when a production source file is over MAX_LINES lines — one concept
// per file. Production sources are packages/*/src/**/*.ts except tests (*.test.ts), declarations
// (*.d.ts) and the test-only folders in TEST_ONLY_DIRS. Prints one line per file over the limit.
// Usage: node scripts/check-file-lines.mjs [repository root]
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The most lines a production source file may have. */
export const MAX_LINES = 400;

/** Folders under a package's src/ that hold only test code (browser e2e tests, conformance mutants). */
export const TEST_ONLY_DIRS = ['e2e', 'mutants'];

/** Lines of a text as `wc -l` counts them, plus a last line without its newline. */
export function countLines(text) {
  if (text === '') return 0;
  const newlines = text.split('\n').length - 1;
  return text.endsWith('\n') ? newlines : newlines + 1;
}

function isProductionSource(pathInSrc) {
  const parts = pathInSrc.split(sep);
  const name = parts[parts.length - 1];
  if (!name.endsWith('.ts') || name.endsWith('.test.ts') || name.endsWith('.d.ts')) return false;
  return !parts.slice(0, -1).some((dir) => TEST_ONLY_DIRS.includes(dir));
}

/**
 * The production source files under `root` over `limit` lines, as `{ path, lines }` with `path`
 * relative to `root`, sorted by path.
 */
export function longFiles(root, limit = MAX_LINES) {
  const found = [];
  const packages = join(root, 'packages');
  for (const pkg of readdirSync(packages, { withFileTypes: true })) {
    if (!pkg.isDirectory()) continue;
    const src = join(packages, pkg.name, 'src');
    let entries;
    try {
      entries = readdirSync(src, { recursive: true, withFileTypes: true });
    } catch (error) {
      if (error.code === 'ENOENT') continue;
      throw error;
    }
    for (const entry of entries) {
      if (!entry.isFile()) continue;
      const file = join(entry.parentPath ?? entry.path, entry.name);
      if (!isProductionSource(relative(src, file))) continue;
      const lines = countLines(readFileSync(file, 'utf8'));
      if (lines > limit) found.push({ path: relative(root, file), lines });
    }
  }
  return found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = process.argv[2] ?? join(fileURLToPath(import.meta.url), '..', '..');
  const long = longFiles(root);
  for (const { path, lines } of long) {
    console.error(`${path}: ${lines} lines (at most ${MAX_LINES}; split it by concept)`);
  }
  process.exit(long.length === 0 ? 0 : 1);
}
