// Docs are code: every TypeScript example of every README is type-checked and run.
//
// The examples of one README form one module, in order (a later example may use what an earlier
// one declared). A README whose examples import vitest is an application's test file and runs
// under vitest; the others run under Node, with the KVM, QEMU and VirtualBox drivers replaced by
// the mock driver (a loader hook maps the three package names to mock-backed shims) and the state
// and cache directories in a temporary place, so they run on any machine and leave nothing.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ReadmeModule,
  runReadmeModules,
  writeReadmeModules,
} from '../../../scripts/readme-examples.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');

let dir: string;
let home: string;
let modules: ReadmeModule[] = [];

beforeAll(async () => {
  // Inside the repository, so `@cvmweb/*` and `vitest` resolve as for an application.
  dir = join(ROOT, 'node_modules', '.cache', 'readme-snippets');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  home = await mkdtemp(join(tmpdir(), 'cvmweb-readme-'));
  await writeFile(join(dir, 'package.json'), '{ "type": "module" }\n');
  modules = await writeReadmeModules(ROOT, dir);
}, 60_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  if (home) await rm(home, { recursive: true, force: true });
});

describe('README examples', { timeout: 120_000 }, () => {
  it('every README has its examples found', () => {
    expect(modules.map((m) => m.readme)).toEqual(
      expect.arrayContaining(['README.md', 'packages/driver-mock/README.md']),
    );
  });

  it('type-check as written', async () => {
    const config = ts.readConfigFile(join(ROOT, 'tsconfig.base.json'), ts.sys.readFile).config as {
      compilerOptions: object;
    };
    const parsed = ts.convertCompilerOptionsFromJson(config.compilerOptions, ROOT);
    const program = ts.createProgram(
      modules.map((m) => m.file),
      { ...parsed.options, noEmit: true, declaration: false, sourceMap: false },
    );
    const problems = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file
        ? `${relative(dir, d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}`
        : '';
      return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
    expect(problems).toEqual([]);
  });

  it('run to the end: under Node on the mock driver, or as the vitest file they are', async () => {
    const env = {
      LC_ALL: 'C',
      XDG_STATE_HOME: join(home, 'state'),
      XDG_CACHE_HOME: join(home, 'cache'),
      XDG_CONFIG_HOME: join(home, 'config'),
      CVMWEB_DRIVER: '',
    };
    const failures = await runReadmeModules({ dir, modules, env: { ...process.env, ...env }, ts });
    expect(failures).toEqual([]);
  });
});
