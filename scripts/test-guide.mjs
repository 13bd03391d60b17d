#!/usr/bin/env node
// `npm run test:guide`: the driver guide's test file runs as written from a project outside the
// workspace. Packs every publishable package (packages/*) with `npm pack`, makes a fresh project
// in the system's temporary directory, installs the tarballs and what the guide tells an author
// to install (vitest, at the version this repository uses) from the npm registry, copies the test
// file of section 5 of docs/writing-a-driver.md out of the guide itself, and runs it with the
// project's own vitest. It must pass.
//
// The guide's file imports the author's driver (`./acme.js`). Here that is a stand-in written by
// this script: the mock driver from the @cvmweb/driver-mock tarball, with one simulated
// hypervisor shared by every `driver()` call (as two processes on one machine share one), which
// fetches its boot image from the image cache as a real driver does. So everything else — the
// packages' `exports` and `files`, the test guest built from node_modules, its catalog, the
// suite and its guest observation — is what an author gets. Removes its directory at the end
// (CVMWEB_GUIDE_KEEP=1 keeps it).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  cleanEnv,
  installProject,
  packWorkspaces,
  ROOT,
  repositoryVersion,
  temporaryDirectory,
} from './packed-project.mjs';

const GUIDE = 'docs/writing-a-driver.md';
const started = Date.now();

/** The marker right above the test file in the guide. */
const MARKER = '<!-- npm run test:guide runs this file as written -->';

/**
 * The fenced ```ts block right under {@link MARKER} in section 5 of the guide; its first line
 * names the file (`// packages/driver-acme/src/acme.conformance.test.ts`).
 */
function guideTestFile() {
  const markdown = readFileSync(join(ROOT, GUIDE), 'utf8');
  const section = markdown.split(/^## /m).find((s) => s.startsWith('5. '));
  if (!section) throw new Error(`${GUIDE}: no section "## 5."`);
  const at = section.indexOf(`${MARKER}\n\`\`\`ts\n`);
  if (at < 0) throw new Error(`${GUIDE} §5: no \`\`\`ts block right under ${MARKER}`);
  const block = /^```ts\n([\s\S]*?)^```/m.exec(section.slice(at));
  const source = block?.[1] ?? '';
  const path = /^\/\/ (\S+\.test\.ts)\n/.exec(source)?.[1];
  if (!path) throw new Error(`${GUIDE} §5: the test file does not start with "// <path>.test.ts"`);
  return { path, source };
}

/** The bare and relative module specifiers a source file imports. */
function imports(source) {
  return [...source.matchAll(/^import [^;]*? from '([^']+)';$/gms)].map((m) => m[1]);
}

const guide = guideTestFile();
const specifiers = imports(guide.source);
const packages = [
  ...new Set(
    specifiers
      .filter((s) => !s.startsWith('.') && !s.startsWith('node:'))
      .map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0])),
  ),
];
const local = specifiers.filter((s) => s.startsWith('.'));
if (local.length !== 1 || !/^\.\/[a-z-]+\.js$/.test(local[0] ?? ''))
  throw new Error(`${GUIDE} §5: expected one import of the author's driver ("./<name>.js"), found ${local}`);

// The project lives outside the repository, so nothing resolves through the workspace.
const dir = temporaryDirectory('cvmweb-guide-');
const env = cleanEnv();
let ok = false;
try {
  // 1. Every publishable package, packed as `npm publish` would.
  const packed = packWorkspaces(dir, env);
  for (const name of packages) {
    if (name.startsWith('@cvmweb/') && !packed.some((p) => p.name === name))
      throw new Error(`${GUIDE} §5 imports ${name}, which is not a published package`);
  }

  // 2. A fresh project: our tarballs, and from the registry what the guide names (vitest, at the
  //    version the repository tests with).
  const project = installProject({
    dir,
    name: 'driver-acme',
    env,
    packed,
    registry: { vitest: repositoryVersion('vitest') },
  });
  for (const name of packages) {
    if (!existsSync(join(project, 'node_modules', name, 'package.json')))
      throw new Error(`${GUIDE} §5 imports ${name}, which the project does not install`);
  }

  // 3. The guide's file where it says, beside the stand-in for the author's driver.
  const file = join(project, guide.path.replace(/^packages\/[^/]+\//, ''));
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, guide.source);
  const driverName = /^\.\/([a-z-]+)\.js$/.exec(local[0])[1];
  writeFileSync(
    join(dirname(file), `${driverName}.js`),
    `// The stand-in for the author's driver (see scripts/test-guide.mjs in the cvmweb repository):
// the mock driver, one simulated machine for every driver() call, booting its image as a real
// driver does.
import { createMockHypervisor, mock } from '@cvmweb/driver-mock';

const machine = createMockHypervisor();

export function ${driverName}() {
  const driver = mock({ instance: machine });
  return {
    ...driver,
    async create(options) {
      const hypervisor = await driver.create(options);
      const createVm = hypervisor.createVm.bind(hypervisor);
      // Fetch the boot image from core's image cache (the test guest's catalog), as a real driver does.
      hypervisor.createVm = async (spec, o) => {
        await spec.image.resolve({ signal: o?.signal });
        return createVm(spec, o);
      };
      return hypervisor;
    },
  };
}
`,
  );

  // 4. The project's own vitest, as the author runs it.
  const test = spawnSync('npx', ['--no-install', 'vitest', 'run'], {
    cwd: project,
    env,
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: 10 * 60_000,
  });
  ok = test.status === 0;
  if (!ok) console.error(`test:guide: vitest exited with ${test.status ?? test.signal}`);
} catch (error) {
  console.error(`test:guide: ${error instanceof Error ? error.message : error}`);
} finally {
  if (process.env.CVMWEB_GUIDE_KEEP === '1') console.log(`test:guide: kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
const seconds = ((Date.now() - started) / 1000).toFixed(1);
console.log(`RESULT test-guide file=${guide.path} ok=${ok} seconds=${seconds}`);
process.exit(ok ? 0 : 1);
