// Docs are code: every TypeScript example of every README is type-checked and run.
//
// The examples of one README form one module, in order (a later example may use what an earlier
// one declared). A README whose examples import vitest is an application's test file and runs
// under vitest; the others run under Node, with the KVM, QEMU and VirtualBox drivers replaced by
// the mock driver (a loader hook maps the three package names to mock-backed shims) and the state
// and cache directories in a temporary place, so they run on any machine and leave nothing.
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { execa } from 'execa';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const READMES = [
  'README.md',
  ...readdirSync(join(ROOT, 'packages'))
    .map((name) => `packages/${name}/README.md`)
    .filter((readme) => existsSync(join(ROOT, readme))),
];

interface Module {
  readme: string;
  file: string;
  vitest: boolean;
  /** Why it is type-checked only. */
  notRun: string | undefined;
}

let dir: string;
let home: string;
const modules: Module[] = [];

/**
 * The ```ts blocks of a Markdown text, in order, and why they are not run: a block right after
 * `<!-- not run: REASON -->` is type-checked only (it needs what a test machine may lack).
 */
function tsBlocks(markdown: string): { source: string; notRun?: string }[] {
  return [...markdown.matchAll(/(?:<!-- not run: (.+?) -->\n)?^```ts\n([\s\S]*?)^```/gm)].map((m) =>
    m[1] ? { source: m[2] ?? '', notRun: m[1] } : { source: m[2] ?? '' },
  );
}

beforeAll(async () => {
  // Inside the repository, so `@cvmweb/*` and `vitest` resolve as for an application.
  dir = join(ROOT, 'node_modules', '.cache', 'readme-snippets');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  home = await mkdtemp(join(tmpdir(), 'cvmweb-readme-'));
  await writeFile(join(dir, 'package.json'), '{ "type": "module" }\n');
  for (const readme of READMES) {
    const blocks = tsBlocks(await readFile(join(ROOT, readme), 'utf8').catch(() => ''));
    if (blocks.length === 0) continue;
    const source = blocks.map((b) => b.source).join('\n');
    const notRun = blocks.find((b) => b.notRun)?.notRun;
    const vitest = /from 'vitest'/.test(source);
    const name = readme.replace(/\/?README\.md$/, '').replace(/^packages\//, '') || 'root';
    const file = join(dir, `${name}.readme${vitest ? '.test' : ''}.ts`);
    await writeFile(file, `${source}\nexport {};\n`);
    modules.push({ readme, file, vitest, notRun });
  }
  // Under Node: the hypervisor drivers become the mock, so examples run here and anywhere.
  await writeFile(
    join(dir, 'drivers.mjs'),
    // Scored like a real driver, so detection picks it as it would pick KVM or VirtualBox.
    "import { mock } from '@cvmweb/driver-mock';\nconst usable = () => mock({ probe: { score: 50, reason: undefined } });\nexport const kvm = usable;\nexport const virtualbox = usable;\nexport const qemu = usable;\n",
  );
  await writeFile(
    join(dir, 'hooks.mjs'),
    `const shim = ${JSON.stringify(pathToFileURL(join(dir, 'drivers.mjs')).href)};
export async function resolve(specifier, context, next) {
  if (specifier === '@cvmweb/driver-kvm' || specifier === '@cvmweb/driver-virtualbox' || specifier === '@cvmweb/driver-qemu') return { url: shim, shortCircuit: true };
  return next(specifier, context);
}
`,
  );
  await writeFile(
    join(dir, 'register.mjs'),
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`,
  );
  await writeFile(
    join(dir, 'vitest.config.mjs'),
    "export default { test: { include: ['*.readme.test.ts'], testTimeout: 30000 } };\n",
  );
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
    const failures: string[] = [];
    for (const module of modules) {
      if (module.notRun) {
        console.info(`${module.readme}: type-checked, not run (${module.notRun})`);
        continue;
      }
      const js = module.file.replace(/\.ts$/, '.mjs');
      const run = module.vitest
        ? execa(
            'npx',
            ['vitest', 'run', '--root', dir, '--config', join(dir, 'vitest.config.mjs'), module.file],
            {
              cwd: dir,
              env,
              reject: false,
              timeout: 90_000,
              all: true,
            },
          )
        : (async () => {
            const source = await readFile(module.file, 'utf8');
            const { outputText } = ts.transpileModule(source, {
              compilerOptions: {
                module: ts.ModuleKind.ESNext,
                target: ts.ScriptTarget.ES2022,
                verbatimModuleSyntax: false,
              },
            });
            await writeFile(js, outputText);
            return execa(process.execPath, ['--import', join(dir, 'register.mjs'), js], {
              cwd: dir,
              env,
              reject: false,
              timeout: 60_000,
              all: true,
            });
          })();
      const result = await run;
      if (result.exitCode !== 0)
        failures.push(
          `${module.readme}: exit ${result.exitCode}${result.timedOut ? ' (timed out: does it dispose what it made?)' : ''}\n${result.all}`,
        );
    }
    expect(failures).toEqual([]);
  });
});
