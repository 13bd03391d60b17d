import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ALLOWED, isTestFile, testWaits, timeWaits } from './check-test-waits.mjs';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'check-test-waits.mjs');
const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'cvmweb-waits-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function put(path: string, text: string): Promise<void> {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), text);
}

const lines = (source: string) => timeWaits(source).map((w) => w.line);

describe('check-test-waits', () => {
  it('finds a promise resolved by a timer, however its resolve is called', () => {
    expect(lines('await new Promise((resolve) => setTimeout(resolve, 100));')).toEqual([1]);
    expect(lines('\nawait new Promise((done) => setTimeout(() => done(undefined), 5));')).toEqual([2]);
    expect(lines('await new Promise(function (r) { setTimeout(r, 5); });')).toEqual([1]);
  });

  it("finds the timer promises, core's sleep, the real clock's sleep, and blocking sleeps", () => {
    expect(lines("import { setTimeout as delay } from 'node:timers/promises';\nawait delay(5);")).toEqual([
      1, 2,
    ]);
    expect(lines("import { sleep } from '@cvmweb/core/node';\nawait sleep(5);")).toEqual([2]);
    expect(lines("import { sleep as nap } from '../clock/sleep.js';\nawait nap(5);")).toEqual([2]);
    expect(lines('await systemClock.sleep(5);')).toEqual([1]);
    expect(lines('Atomics.wait(view, 0, 0, 5);')).toEqual([1]);
    expect(lines('await page.waitForTimeout(100);')).toEqual([1]);
  });

  it('finds loops until a wall-clock deadline', () => {
    expect(lines('while (Date.now() < deadline) await check();')).toEqual([1]);
    expect(lines('for (const end = performance.now() + 5; performance.now() < end; ) spin();')).toEqual([1]);
    expect(lines('do { await check(); } while (Date.now() < deadline);')).toEqual([1]);
  });

  it('leaves alone time boxes, fakes that take time, child source text, injected clocks and comments', () => {
    const fine = [
      'const timer = setTimeout(() => reject(new Error("late")), ms);',
      'return new Promise((resolve) => { setTimeout(() => { events.push("end"); resolve(result); }, 50); });',
      "runner.run(node, ['-e', 'setTimeout(() => {}, 300)']);",
      'await clock.sleep(1000); // a FastClock',
      '// await new Promise((resolve) => setTimeout(resolve, 100));',
      "import { sleep } from './somewhere-else.js';\nawait sleep(5);",
      'const started = Date.now(); await work(); expect(Date.now() - started).toBeLessThan(5000);',
      'await vi.waitFor(() => expect(x).toBe(1));',
    ];
    for (const source of fine) expect(timeWaits(source), source).toEqual([]);
  });

  it('reads test files and test helpers, not production sources or the doubles', () => {
    expect(isTestFile('packages/a/src/x/y.test.ts')).toBe(true);
    expect(isTestFile('packages/a/test/support.ts')).toBe(true);
    expect(isTestFile('packages/a/src/testing/harness.ts')).toBe(true);
    expect(isTestFile('packages/a/src/testing.ts')).toBe(true);
    expect(isTestFile('scripts/check.test.ts')).toBe(true);
    expect(isTestFile('packages/a/src/x/y.ts')).toBe(false);
    expect(isTestFile('packages/a/test/double.mjs')).toBe(false);
    expect(isTestFile('packages/a/src/types.d.ts')).toBe(false);
  });

  it('reports files under a root with their lines, skipping allowed files, and exits 1', async () => {
    await put('packages/a/src/deep/x.test.ts', '\nawait new Promise((r) => setTimeout(r, 9));\n');
    await put('packages/a/src/x.ts', 'await new Promise((r) => setTimeout(r, 9));\n');
    await put('packages/b/test/helper.ts', 'while (Date.now() < end) {}\n');
    await put('packages/b/src/allowed.test.ts', 'await new Promise((r) => setTimeout(r, 9));\n');
    const allowed = { 'packages/b/src/allowed.test.ts': 'tests time itself' };
    expect(testWaits(root, allowed).map(({ path, line }) => `${path}:${line}`)).toEqual([
      'packages/a/src/deep/x.test.ts:2',
      'packages/b/test/helper.ts:1',
    ]);
    const run = promisify(execFile)(process.execPath, [SCRIPT, root]);
    await expect(run).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('x.test.ts:2') });
  });

  it('passes on this repository, and every allowed file still has a wait to allow', () => {
    const waits = testWaits(REPO, {});
    expect(waits.filter((w) => !(w.path in ALLOWED))).toEqual([]);
    for (const path of Object.keys(ALLOWED)) expect(waits.map((w) => w.path)).toContain(path);
  });
});
