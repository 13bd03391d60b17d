#!/usr/bin/env node
// `npm run test:packed`: our packages as an npm user gets them. Packs every publishable package
// once (`npm pack`), lints each tarball (publint, strict; arethetypeswrong with the ESM-only
// profile: a CommonJS `require` is not supported, by policy), installs the tarballs in a fresh
// project outside the workspace with TypeScript, @types/node and vitest from the npm registry (at
// the versions this repository uses), and there:
//   1. type-checks every README's examples and an ESM consumer of every package entry with the
//      project's own tsc (NodeNext, strict), and runs them (scripts/readme-examples.mjs);
//   2. checks the ESM-only policy: a `.cts` file that imports any entry fails to compile
//      (TS2307, one per entry), while `await import()` from CommonJS compiles and runs;
//   3. runs `npx cvmweb detect --json` and `npx cvmweb serve` (mock fallback, a free port) and
//      reads its /info.
// Removes its directory at the end (CVMWEB_PACKED_KEEP=1 keeps it).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout } from 'node:timers/promises';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import {
  cleanEnv,
  installProject,
  packWorkspaces,
  ROOT,
  repositoryVersion,
  run,
  temporaryDirectory,
} from './packed-project.mjs';
import { runReadmeModules, writeReadmeModules } from './readme-examples.mjs';

const started = Date.now();
/** Entries that are files, not modules, and have no types by design (attw is told to skip them). */
const FILE_ENTRIES = { '@cvmweb/web-bridge': ['./cvmweb.global.js'] };
const problems = [];
const say = (/** @type {string} */ line) =>
  console.log(`test:packed: [${((Date.now() - started) / 1000).toFixed(0)} s] ${line}`);

/** publint (strict, suggestions too) and attw (ESM-only profile) on one tarball. */
async function lint(/** @type {{ name: string, tarball: string }} */ { name, tarball }) {
  const bytes = readFileSync(tarball);
  const result = await publint({
    pack: { tarball: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) },
    level: 'suggestion',
    strict: true,
  });
  for (const message of result.messages)
    problems.push(`publint ${name}: ${formatMessage(message, result.pkg) ?? message.code}`);
  const skip = FILE_ENTRIES[name] ?? [];
  const attw = join(ROOT, 'node_modules', '.bin', 'attw');
  const args = [tarball, '--profile', 'esm-only', '--format', 'json'];
  if (skip.length > 0) args.push('--exclude-entrypoints', ...skip);
  const report = JSON.parse(
    await new Promise((resolve) => {
      const child = spawn(attw, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (chunk) => {
        out += chunk;
      });
      child.on('close', () => resolve(out));
    }),
  );
  const ignored = new Set(['node10', 'node16-cjs']); // the esm-only profile's ignored resolutions
  for (const list of Object.values(report.problems ?? {})) {
    for (const problem of list) {
      if (problem.resolutionKind && ignored.has(problem.resolutionKind)) continue;
      problems.push(
        `attw ${name}: ${problem.kind} ${problem.entrypoint ?? ''} ${problem.resolutionKind ?? ''}`,
      );
    }
  }
}

/** The module entries (`exports` keys with types) of an installed package. */
function moduleEntries(/** @type {string} */ project, /** @type {string} */ name) {
  const manifest = JSON.parse(readFileSync(join(project, 'node_modules', name, 'package.json'), 'utf8'));
  return Object.entries(manifest.exports ?? {})
    .filter(([, target]) => typeof target === 'object' && target.import?.types)
    .map(([subpath]) => (subpath === '.' ? name : `${name}/${subpath.slice(2)}`));
}

/** Whether any process of the process group `pgid` is still there. */
function groupAlive(/** @type {number} */ pgid) {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs `npx cvmweb serve` on a free port, reads /info, stops it (its process group). */
async function serveInfo(/** @type {string} */ project, /** @type {NodeJS.ProcessEnv} */ env) {
  const args = ['--no-install', 'cvmweb', 'serve', '--fallback', 'mock', '--port', '0', '--json'];
  const child = spawn('npx', args, { cwd: project, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const ended = new Promise((resolve) => child.on('close', (code, signal) => resolve(code ?? signal)));
  const stop = (/** @type {NodeJS.Signals} */ signal) => {
    try {
      process.kill(-(child.pid ?? 0), signal);
    } catch {}
  };
  const guard = globalThis.setTimeout(() => stop('SIGKILL'), 60_000);
  try {
    const lines = createInterface({ input: child.stdout });
    let ready;
    for await (const line of lines) {
      if (line.startsWith('{')) {
        ready = JSON.parse(line);
        break;
      }
    }
    if (!ready?.port) throw new Error(`npx cvmweb serve printed no JSON line with a port\n${stderr}`);
    const info = await (await fetch(`http://127.0.0.1:${ready.port}/info`)).json();
    // Ctrl+C in a terminal: SIGINT to the whole process group (npx, its shell, cvmweb). Every one
    // of them must end, cvmweb included (not left serving, orphaned).
    stop('SIGINT');
    await ended;
    const deadline = Date.now() + 15_000;
    while (groupAlive(child.pid ?? 0) && Date.now() < deadline) await setTimeout(100);
    if (groupAlive(child.pid ?? 0))
      problems.push(`npx cvmweb serve: still running 15 s after SIGINT\n${stderr}`);
    return info;
  } finally {
    clearTimeout(guard);
    stop('SIGKILL');
  }
}

const dir = temporaryDirectory('cvmweb-packed-');
const env = cleanEnv();
const home = join(dir, 'home');
Object.assign(env, {
  XDG_STATE_HOME: join(home, 'state'),
  XDG_CACHE_HOME: join(home, 'cache'),
  XDG_CONFIG_HOME: join(home, 'config'),
  CVMWEB_DRIVER: '',
});
try {
  const packed = packWorkspaces(dir, env);
  say(`packed ${packed.length} packages in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await Promise.all(packed.map(lint));
  say(`publint and attw: ${problems.length} problems`);

  const registry = Object.fromEntries(
    ['typescript', '@types/node', 'vitest'].map((name) => [name, repositoryVersion(name)]),
  );
  const project = installProject({ dir, name: 'app', env, packed, registry });
  const entries = packed.flatMap((p) => moduleEntries(project, p.name));

  // 1. The README examples and every entry, type-checked by the project's tsc, then run.
  const examples = join(project, 'readme');
  mkdirSync(examples);
  const modules = await writeReadmeModules(ROOT, examples);
  const esm = entries.map((e, i) => `import * as e${i} from '${e}';\n`).join('');
  const used = entries.map((_, i) => `e${i}`).join(', ');
  writeFileSync(join(project, 'entries.mts'), `${esm}console.log([${used}].length);\n`);
  const dynamic = entries.map((e) => `  await import('${e}');\n`).join('');
  writeFileSync(join(project, 'dynamic.cts'), `export async function load() {\n${dynamic}}\n`);
  const compilerOptions = {
    module: 'NodeNext',
    target: 'ES2022',
    strict: true,
    noEmit: true,
    types: ['node'],
  };
  const tsconfig = (/** @type {string[]} */ include) =>
    `${JSON.stringify({ compilerOptions, include }, null, 2)}\n`;
  writeFileSync(join(project, 'tsconfig.json'), tsconfig(['readme/*.ts', 'entries.mts', 'dynamic.cts']));
  run('npx', ['--no-install', 'tsc', '-p', 'tsconfig.json'], { cwd: project, env });
  say(`type-checked ${modules.length} READMEs' examples and ${entries.length} entries`);
  const ts = createRequire(join(project, 'package.json'))('typescript');
  problems.push(...(await runReadmeModules({ dir: examples, modules, env, ts, log: say })));
  run(process.execPath, ['--input-type=module', '-e', `${esm}`], { cwd: project, env });
  const cjs = `require('./dynamic.cjs').load().then(() => console.log('ok'));`;
  // As tsc emits it for Node (NodeNext): `import()` stays an import in CommonJS.
  const cts = readFileSync(join(project, 'dynamic.cts'), 'utf8');
  const compiled = ts.transpileModule(cts, {
    fileName: 'dynamic.cts',
    compilerOptions: { module: ts.ModuleKind.NodeNext, target: ts.ScriptTarget.ES2022 },
  });
  writeFileSync(join(project, 'dynamic.cjs'), compiled.outputText);
  if (run(process.execPath, ['-e', cjs], { cwd: project, env }).trim() !== 'ok')
    problems.push('await import() of every entry from CommonJS did not finish');

  // 2. ESM only: a CommonJS import of any entry does not compile.
  writeFileSync(join(project, 'require.cts'), `${esm}export const all = [${used}];\n`);
  writeFileSync(join(project, 'tsconfig.cjs.json'), tsconfig(['require.cts']));
  const refused = spawnTsc(project, env);
  const refusedModules = refused.map(
    (line) => /^require\.cts\(\d+,\d+\): error TS2307: Cannot find module '([^']+)'/.exec(line)?.[1] ?? line,
  );
  if (refusedModules.join('\n') !== entries.join('\n'))
    problems.push(`a .cts importing each entry: expected TS2307 for each, got\n${refused.join('\n')}`);
  say(`a CommonJS import of each of the ${entries.length} entries fails to compile (TS2307)`);

  // 3. The command.
  const detect = spawnJson(project, env);
  if (!Array.isArray(detect?.candidates) || !detect.candidates.some((c) => c.name === 'mock'))
    problems.push(
      `npx cvmweb detect --json: no candidates list with the mock driver: ${JSON.stringify(detect)}`,
    );
  const info = await serveInfo(project, env);
  const bridge = JSON.parse(
    readFileSync(join(project, 'node_modules/@cvmweb/web-bridge/package.json'), 'utf8'),
  );
  if (info?.version !== bridge.version)
    problems.push(`npx cvmweb serve: /info answered ${JSON.stringify(info)}, not version ${bridge.version}`);
  say(`npx cvmweb detect --json: winner ${detect?.winner}; npx cvmweb serve: /info ${JSON.stringify(info)}`);
} catch (error) {
  problems.push(error instanceof Error ? (error.stack ?? error.message) : String(error));
} finally {
  if (process.env.CVMWEB_PACKED_KEEP === '1') say(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}

/** The project's tsc on tsconfig.cjs.json: its error lines. */
function spawnTsc(/** @type {string} */ project, /** @type {NodeJS.ProcessEnv} */ env) {
  const args = ['--no-install', 'tsc', '-p', 'tsconfig.cjs.json', '--pretty', 'false'];
  const result = spawnSync('npx', args, { cwd: project, env, encoding: 'utf8' });
  return result.stdout.trim().split('\n').filter(Boolean);
}

/** `npx cvmweb detect --json` (exit 0, or 3 when nothing but the mock is usable): its JSON. */
function spawnJson(/** @type {string} */ project, /** @type {NodeJS.ProcessEnv} */ env) {
  const args = ['--no-install', 'cvmweb', 'detect', '--json'];
  const result = spawnSync('npx', args, { cwd: project, env, encoding: 'utf8', timeout: 120_000 });
  if (result.status !== 0 && result.status !== 3)
    throw new Error(`npx cvmweb detect --json: exit ${result.status ?? result.signal}\n${result.stderr}`);
  return JSON.parse(result.stdout);
}

for (const problem of problems) console.error(`test:packed: ${problem}`);
const seconds = ((Date.now() - started) / 1000).toFixed(1);
console.log(`RESULT test-packed ok=${problems.length === 0} problems=${problems.length} seconds=${seconds}`);
process.exit(problems.length === 0 ? 0 : 1);
