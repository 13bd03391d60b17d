import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** The `src` folder of @cvmweb/core. */
const src = join(dirname(fileURLToPath(import.meta.url)), '../src');

/** The folders of core the file registry's code needs at run time. */
const FOLDERS = ['errors', 'state', 'registry', 'files', 'clock', 'concurrency', 'session', 'process'];

/**
 * Test support for the registry's multi-process tests: transpiles the real registry code (and
 * what it imports) to ES modules under `out` (Node 20 cannot run TypeScript), writes
 * `out/<name>.js` with `script`, and returns that file's path. The script imports the registry
 * as `./registry/file-session-registry.js`; core's dependencies resolve through a link to the
 * workspace's `node_modules`. Not exported from the package.
 *
 * @internal
 */
export async function writeRegistryChild(out: string, name: string, script: string): Promise<string> {
  for (const folder of FOLDERS) {
    for (const entry of await readdir(join(src, folder))) {
      if (!entry.endsWith('.ts') || entry.endsWith('.test.ts')) continue;
      const file = join(src, folder, entry);
      const { outputText } = ts.transpileModule(await readFile(file, 'utf8'), {
        compilerOptions: {
          module: ts.ModuleKind.ESNext,
          target: ts.ScriptTarget.ES2022,
          verbatimModuleSyntax: true,
        },
        fileName: file,
      });
      const target = join(out, relative(src, file)).replace(/\.ts$/, '.js');
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, outputText);
    }
  }
  // The records the child scripts write (type-only imports, so it runs on its own).
  const support = join(dirname(fileURLToPath(import.meta.url)), 'registry-test-support.ts');
  const { outputText } = ts.transpileModule(await readFile(support, 'utf8'), {
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      verbatimModuleSyntax: true,
    },
    fileName: support,
  });
  await writeFile(join(out, 'registry', 'registry-test-support.js'), outputText);
  await writeFile(join(out, 'package.json'), '{"type":"module"}');
  // Core's dependencies (zod) resolve from the workspace's node_modules.
  await symlink(join(src, '../../../node_modules'), join(out, 'node_modules'), 'dir');
  const script_ = join(out, `${name}.js`);
  await writeFile(script_, script);
  return script_;
}
