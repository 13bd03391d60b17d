#!/usr/bin/env node
// `npm run lint:waits`: fails when a test waits on time instead of on an event or a condition.
// Tests wait with vi.waitFor / expect.poll, core's waitUntil, on events, or on an injected clock; a
// sleep passes on an idle machine and fails on a loaded one. Test files are packages/*/src/**/*.test.ts,
// test support (packages/*/src/testing/** and src/testing.ts), packages/*/test/**/*.ts and scripts/*.test.ts; each is parsed with the TypeScript compiler (so a
// `setTimeout` inside a child's source string or a comment does not count). A wait on time is:
//   - a promise resolved by a timer: `new Promise((resolve) => setTimeout(resolve, ms))`, also
//     with an arrow that only resolves;
//   - `setTimeout` or `scheduler.wait` of node:timers/promises;
//   - a call of core's abortable `sleep` or of `systemClock.sleep` (the real clock);
//   - a loop whose condition reads the wall clock (`Date.now()`, `performance.now()`);
//   - `Atomics.wait` and playwright's `waitForTimeout`.
// ALLOWED lists the files where such a use is not a wait, each with why.
// Usage: node scripts/check-test-waits.mjs [repository root]
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** Test files (paths from the repository root, `/`-separated) where time is what is tested. */
export const ALLOWED = {
  // The tests of the abortable sleep primitive itself (on fake timers, and one short real sleep).
  'packages/core/src/clock/sleep.test.ts': 'tests the sleep primitive',
  // The kill lands at a random moment of the child's write loop, which is what the test samples:
  // no event could say "now, in the middle of a write".
  'packages/core/src/registry/file-session-registry.crash.test.ts': 'samples a random moment to kill at',
};

const TIMER_MODULES = new Set(['node:timers/promises', 'timers/promises']);

/** Whether `path` (relative to the root, `/`-separated) is a test file this check reads. */
export function isTestFile(path) {
  if (!path.endsWith('.ts') || path.endsWith('.d.ts')) return false;
  const parts = path.split('/');
  if (parts[0] === 'scripts') return parts.length === 2 && path.endsWith('.test.ts');
  if (parts[0] !== 'packages' || parts.length < 4) return false;
  if (parts[2] === 'test') return true;
  // Test support shipped as a package's `./testing` entry waits like tests do.
  return (
    parts[2] === 'src' && (path.endsWith('.test.ts') || parts[3] === 'testing' || parts[3] === 'testing.ts')
  );
}

/** The waits on time in one file's source, as `{ line, what }` (1-based lines). */
export function timeWaits(source, fileName = 'file.ts') {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found = [];
  const report = (node, what) =>
    found.push({ line: file.getLineAndCharacterOfPosition(node.getStart(file)).line + 1, what });
  // Local names bound to a sleep: core's `sleep` (any import of a module exporting it by that
  // name from @cvmweb/core or a relative sleep.js) and the timer promises.
  const sleeps = new Set();
  for (const statement of file.statements) {
    if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) continue;
    const from = statement.moduleSpecifier.text;
    const named = statement.importClause?.namedBindings;
    if (!named || !ts.isNamedImports(named)) continue;
    for (const element of named.elements) {
      const imported = (element.propertyName ?? element.name).text;
      if (TIMER_MODULES.has(from) && (imported === 'setTimeout' || imported === 'scheduler')) {
        sleeps.add(element.name.text);
        report(element, `${imported} of ${from}`);
      } else if (imported === 'sleep' && (from.startsWith('@cvmweb/core') || /(^|\/)sleep\.js$/.test(from))) {
        sleeps.add(element.name.text);
      }
    }
  }
  const text = (node) => node.getText(file);
  const readsWallClock = (node) => /\b(Date|performance)\.now\(\)/.test(text(node));
  const visit = (node) => {
    if (ts.isNewExpression(node) && text(node.expression) === 'Promise') {
      const executor = node.arguments?.[0];
      const resolve =
        executor && (ts.isArrowFunction(executor) || ts.isFunctionExpression(executor))
          ? executor.parameters[0]?.name
          : undefined;
      if (resolve && ts.isIdentifier(resolve) && resolvedByTimer(executor.body, resolve.text, text)) {
        report(node, 'a promise resolved by a timer (a sleep)');
      }
    } else if (ts.isCallExpression(node)) {
      const callee = text(node.expression);
      if (sleeps.has(callee)) report(node, `${callee}() (a sleep)`);
      else if (/^systemClock\.sleep$/.test(callee)) report(node, 'systemClock.sleep() (a real sleep)');
      else if (callee === 'Atomics.wait') report(node, 'Atomics.wait (a blocking sleep)');
      else if (/\.waitForTimeout$/.test(callee)) report(node, 'waitForTimeout (a sleep)');
    } else if ((ts.isWhileStatement(node) || ts.isDoStatement(node)) && readsWallClock(node.expression)) {
      report(node, 'a loop until a wall-clock deadline (a hand-written poll)');
    } else if (ts.isForStatement(node) && node.condition && readsWallClock(node.condition)) {
      report(node, 'a loop until a wall-clock deadline (a hand-written poll)');
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

/** Whether `body` calls `setTimeout(resolve, …)` or `setTimeout(() => resolve(…), …)`. */
function resolvedByTimer(body, resolve, text) {
  let hit = false;
  const visit = (node) => {
    if (ts.isCallExpression(node) && text(node.expression) === 'setTimeout') {
      const callback = node.arguments[0];
      if (callback && ts.isIdentifier(callback) && callback.text === resolve) hit = true;
      if (
        callback &&
        ts.isArrowFunction(callback) &&
        ts.isCallExpression(callback.body) &&
        text(callback.body.expression) === resolve
      )
        hit = true;
    }
    ts.forEachChild(node, visit);
  };
  visit(body);
  return hit;
}

/** Every wait on time in the test files under `root`, as `{ path, line, what }`, allowed files left out. */
export function testWaits(root, allowed = ALLOWED) {
  const found = [];
  const files = [];
  const packages = join(root, 'packages');
  for (const pkg of readdirSync(packages, { withFileTypes: true })) {
    if (!pkg.isDirectory()) continue;
    for (const dir of ['src', 'test']) files.push(...walk(join(packages, pkg.name, dir)));
  }
  files.push(...walk(join(root, 'scripts'), false));
  for (const file of files) {
    const path = relative(root, file).split(sep).join('/');
    if (!isTestFile(path) || path in allowed) continue;
    for (const wait of timeWaits(readFileSync(file, 'utf8'), path)) found.push({ path, ...wait });
  }
  return found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.line - b.line));
}

function walk(dir, recursive = true) {
  let entries;
  try {
    entries = readdirSync(dir, { recursive, withFileTypes: true });
  } catch (error) {
    if (error.code === 'ENOENT') return [];
    throw error;
  }
  return entries
    .filter((entry) => entry.isFile() && !(entry.parentPath ?? entry.path).includes('node_modules'))
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = process.argv[2] ?? join(fileURLToPath(import.meta.url), '..', '..');
  const waits = testWaits(root);
  for (const { path, line, what } of waits) {
    console.error(
      `${path}:${line}: waits on time: ${what}; wait with vi.waitFor/expect.poll, an event or an injected clock`,
    );
  }
  process.exit(waits.length === 0 ? 0 : 1);
}
