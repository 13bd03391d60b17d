import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { countLines, longFiles, MAX_LINES } from './check-file-lines.mjs';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'check-file-lines.mjs');

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'cvmweb-lines-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function put(path: string, lines: number): Promise<void> {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), 'export {};\n'.repeat(lines));
}

describe('check-file-lines', () => {
  it('counts lines as wc -l does, plus a last line without its newline', () => {
    expect(countLines('')).toBe(0);
    expect(countLines('a\n')).toBe(1);
    expect(countLines('a\nb')).toBe(2);
    expect(countLines('a\n\nb\n')).toBe(3);
  });

  it('reports production sources over the limit, in any package and folder depth', async () => {
    await put('packages/a/src/at-limit.ts', MAX_LINES);
    await put('packages/a/src/deep/er/over.ts', MAX_LINES + 1);
    await put('packages/b/src/testing/support.ts', MAX_LINES + 50);
    expect(longFiles(root)).toEqual([
      { path: join('packages', 'a', 'src', 'deep', 'er', 'over.ts'), lines: MAX_LINES + 1 },
      { path: join('packages', 'b', 'src', 'testing', 'support.ts'), lines: MAX_LINES + 50 },
    ]);
  });

  it('leaves out tests, declarations, test-only folders, files outside src/ and non-TypeScript files', async () => {
    await put('packages/a/src/big.test.ts', 900);
    await put('packages/a/src/types.d.ts', 900);
    await put('packages/a/src/e2e/page.ts', 900);
    await put('packages/a/src/mutants/mock-mutants.ts', 900);
    await put('packages/a/test/helper.ts', 900);
    await put('packages/a/src/data.json', 900);
    await put('packages/a/dist/index.ts', 900);
    await mkdir(join(root, 'packages', 'no-src'), { recursive: true });
    expect(longFiles(root)).toEqual([]);
  });

  it('as a command: exits 1 naming each long file, 0 when none is', async () => {
    await put('packages/a/src/fine.ts', 10);
    await expect(promisify(execFile)(process.execPath, [SCRIPT, root])).resolves.toMatchObject({
      stderr: '',
    });
    await put('packages/a/src/long.ts', MAX_LINES + 2);
    const failed = await promisify(execFile)(process.execPath, [SCRIPT, root]).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toBe(
      `${join('packages', 'a', 'src', 'long.ts')}: ${MAX_LINES + 2} lines (at most ${MAX_LINES}; split it by concept)\n`,
    );
  });
});
