#!/usr/bin/env node
// `npm run test:conformance-mutants`: gives the driver conformance suite teeth. Runs it (one
// vitest run, vitest.mutants.config.ts) against the mock driver as it is — the control, which
// must pass — and against each deliberately broken variant of
// packages/driver-mock/test/mutants/mock-mutants.ts, each of which must fail. Prints one line per
// variant and exits 0 only when the control passed and every variant failed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TITLE = 'driver conformance: mock mutant ';
const dir = mkdtempSync(join(tmpdir(), 'cvmweb-mutants-'));
const output = join(dir, 'results.json');
const started = Date.now();
const run = spawnSync(
  'npx',
  ['vitest', 'run', '--config', 'vitest.mutants.config.ts', '--reporter=json', `--outputFile=${output}`],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);
let results;
try {
  results = JSON.parse(readFileSync(output, 'utf8'));
} catch (error) {
  console.error(`conformance mutants: vitest wrote no results (exit ${run.status}): ${error}`);
  process.exit(2);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/** @type {Map<string, Array<{ status: string, title: string, message: string }>>} */
const variants = new Map();
for (const file of results.testResults) {
  for (const test of file.assertionResults) {
    const suite = test.ancestorTitles[0] ?? '';
    if (!suite.startsWith(TITLE)) continue;
    const name = suite.slice(TITLE.length);
    const message = (test.failureMessages?.[0] ?? '').split('\n')[0];
    variants.set(name, [...(variants.get(name) ?? []), { status: test.status, title: test.title, message }]);
  }
}

let ok = true;
const control = variants.get('control') ?? [];
const controlFailed = control.filter((t) => t.status === 'failed');
if (control.length === 0 || controlFailed.length > 0) {
  ok = false;
  console.log(
    `FAIL control: the unbroken mock must pass the suite (${controlFailed.length} of ${control.length} failed)`,
  );
  for (const t of controlFailed) console.log(`       ${t.title}: ${t.message}`);
} else {
  console.log(`ok   control: the unbroken mock passes all ${control.length} tests`);
}
for (const [name, tests] of variants) {
  if (name === 'control') continue;
  const failed = tests.filter((t) => t.status === 'failed');
  if (failed.length === 0) {
    ok = false;
    console.log(`FAIL ${name}: passed the suite, which did not notice the breakage`);
  } else {
    console.log(`ok   ${name}: caught by ${failed.length} of ${tests.length} tests`);
    for (const t of failed) console.log(`       ${t.title}: ${t.message}`);
  }
}
if (variants.size < 2) {
  ok = false;
  console.log('FAIL no mutants ran');
}
const seconds = ((Date.now() - started) / 1000).toFixed(1);
console.log(`RESULT conformance-mutants variants=${variants.size - 1} ok=${ok} seconds=${seconds}`);
process.exit(ok ? 0 : 1);
