// Docs are code: the TypeScript examples of every README, written out as modules and run. Shared
// by packages/cli/src/readme-snippets.test.ts (against the workspace) and scripts/test-packed.mjs
// (against the packed tarballs in a project outside the workspace).
//
// The examples of one README form one module, in order (a later example may use what an earlier
// one declared). A README whose examples import vitest is an application's test file and runs
// under vitest; the others run under Node, with the KVM, QEMU and VirtualBox drivers replaced by
// the mock driver (a loader hook maps the three package names to mock-backed shims).
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * The ```ts blocks of a Markdown text, in order, and why they are not run: a block right after
 * `<!-- not run: REASON -->` is type-checked only (it needs what a test machine may lack).
 * @param {string} markdown
 * @returns {{ source: string, notRun?: string }[]}
 */
export function tsBlocks(markdown) {
  return [...markdown.matchAll(/(?:<!-- not run: (.+?) -->\n)?^```ts\n([\s\S]*?)^```/gm)].map((m) =>
    m[1] ? { source: m[2] ?? '', notRun: m[1] } : { source: m[2] ?? '' },
  );
}

/**
 * The repository's READMEs: the root one and each package's.
 * @param {string} root
 */
export function readmePaths(root) {
  return [
    'README.md',
    ...readdirSync(join(root, 'packages'))
      .map((name) => `packages/${name}/README.md`)
      .filter((readme) => existsSync(join(root, readme))),
  ];
}

/**
 * Writes one module per README that has examples into `dir` (`<package>.readme.ts`, or
 * `<package>.readme.test.ts` when it imports vitest), with what running them needs.
 * @param {string} root the repository
 * @param {string} dir
 * @returns {Promise<import('./readme-examples.d.mts').ReadmeModule[]>}
 */
export async function writeReadmeModules(root, dir) {
  /** @type {import('./readme-examples.d.mts').ReadmeModule[]} */
  const modules = [];
  for (const readme of readmePaths(root)) {
    const blocks = tsBlocks(await readFile(join(root, readme), 'utf8').catch(() => ''));
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
  return modules;
}

/**
 * Runs a command to its end without throwing.
 * @param {string} command
 * @param {string[]} args
 * @param {{ cwd: string, env: NodeJS.ProcessEnv, timeout: number }} options
 * @returns {Promise<{ code: number | null, timedOut: boolean, output: string }>}
 */
function execute(command, args, options) {
  return new Promise((resolve) => {
    execFile(command, args, { ...options, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, timedOut: Boolean(error?.killed), output: `${stdout}${stderr}` });
    });
  });
}

/**
 * Runs each module that is not marked "not run" to its end: under vitest (the one `npx` finds
 * from `dir`) or, transpiled with `ts`, under Node with the driver shims.
 * @param {{ dir: string, modules: import('./readme-examples.d.mts').ReadmeModule[], env: NodeJS.ProcessEnv, ts: typeof import('typescript'), log?: (line: string) => void }} options
 * @returns {Promise<string[]>} one message per module that failed
 */
export async function runReadmeModules({ dir, modules, env, ts, log = console.info }) {
  const failures = [];
  for (const module of modules) {
    if (module.notRun) {
      log(`${module.readme}: type-checked, not run (${module.notRun})`);
      continue;
    }
    let result;
    if (module.vitest) {
      const args = ['vitest', 'run', '--root', dir, '--config', join(dir, 'vitest.config.mjs'), module.file];
      result = await execute('npx', args, { cwd: dir, env, timeout: 90_000 });
    } else {
      const js = module.file.replace(/\.ts$/, '.mjs');
      const { outputText } = ts.transpileModule(await readFile(module.file, 'utf8'), {
        compilerOptions: {
          module: ts.ModuleKind.ESNext,
          target: ts.ScriptTarget.ES2022,
          verbatimModuleSyntax: false,
        },
      });
      await writeFile(js, outputText);
      const args = ['--import', join(dir, 'register.mjs'), js];
      result = await execute(process.execPath, args, { cwd: dir, env, timeout: 60_000 });
    }
    if (result.code !== 0)
      failures.push(
        `${module.readme}: exit ${result.code}${result.timedOut ? ' (timed out: does it dispose what it made?)' : ''}\n${result.output}`,
      );
  }
  return failures;
}
