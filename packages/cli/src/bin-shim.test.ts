// The `cvmweb` command npm links is a committed shim (bin/cvmweb.js), so that `npm ci` in a fresh
// clone links it before anything is built: it runs the build when there is one and says what to
// do when there is none.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const PACKAGE = fileURLToPath(new URL('..', import.meta.url));
const ROOT = join(PACKAGE, '../..');
const temporary: string[] = [];

afterAll(async () => {
  for (const dir of temporary) await rm(dir, { recursive: true, force: true });
});

async function binPath(): Promise<string> {
  const manifest = JSON.parse(await readFile(join(PACKAGE, 'package.json'), 'utf8')) as {
    bin: Record<string, string>;
    files: string[];
  };
  const bin = manifest.bin['cvmweb'] ?? '';
  expect(manifest.files).toContain(bin.replace(/^\.\//, '').split('/')[0]);
  return join(PACKAGE, bin);
}

describe('the cvmweb bin', () => {
  it('is a committed, executable file outside the build output', async () => {
    const bin = await binPath();
    expect(bin).not.toContain(`${join(PACKAGE, 'dist')}`);
    const staged = execFileSync('git', ['ls-files', '--stage', '--', bin], { cwd: ROOT, encoding: 'utf8' });
    expect(staged).toMatch(/^100755 /);
  });

  it('runs the built command, in this process', async () => {
    const { version } = JSON.parse(await readFile(join(PACKAGE, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(execFileSync(await binPath(), ['--version'], { encoding: 'utf8' }).trim()).toBe(version);
  });

  it('says the package is not built when dist/bin.js is missing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cvmweb-bin-'));
    temporary.push(dir);
    const copy = join(dir, 'bin', 'cvmweb.js');
    await mkdir(dirname(copy));
    await copyFile(await binPath(), copy);
    const result = spawnSync(process.execPath, [copy, 'detect'], { encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`${join(dir, 'dist', 'bin.js')} does not exist`);
    expect(result.stderr).toContain('npm run build');
  });
});
