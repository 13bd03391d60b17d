// Every package's README lists its public exports, and the list is the truth: for each entry of
// each package's `exports` map, the README's "Exports" section names exactly the values the built
// module has at run time (imported from dist) and exactly the types its published .d.ts adds
// (read with the TypeScript compiler). A name added to or dropped from an entry fails here until
// the README says so; the failure prints the section as it should read.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');

interface Entry {
  /** The import specifier, e.g. `@cvmweb/core/node`. */
  specifier: string;
  dts: string;
  js: string;
}

interface PackageJson {
  name: string;
  /** ESM only: a module entry's types and code sit under its `import` condition. */
  exports?: Record<string, string | { import?: { types?: string; default?: string } }>;
}

function entriesOf(folder: string): { readme: string; entries: Entry[] } {
  const dir = join(ROOT, 'packages', folder);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
  const entries: Entry[] = [];
  for (const [subpath, target] of Object.entries(pkg.exports ?? {})) {
    const module = typeof target === 'object' ? target.import : undefined;
    if (!module?.types || !module.default) continue; // files, not modules
    entries.push({
      specifier: subpath === '.' ? pkg.name : `${pkg.name}/${subpath.replace(/^\.\//, '')}`,
      dts: join(dir, module.types),
      js: join(dir, module.default),
    });
  }
  return { readme: join(dir, 'README.md'), entries };
}

/** Every name the declaration file exports, types and values. */
function declaredNames(dts: string): string[] {
  const program = ts.createProgram([dts], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    noEmit: true,
    skipLibCheck: true,
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(dts);
  const module = source && checker.getSymbolAtLocation(source);
  if (!module) throw new Error(`${dts} is not a module`);
  return checker.getExportsOfModule(module).map((symbol) => symbol.name);
}

/** The names listed after `- values:` and `- types:` under the entry's heading in the Exports section. */
function listed(readme: string, specifier: string): { values: string[]; types: string[] } | undefined {
  const text = readFileSync(readme, 'utf8');
  const section = text.split(/^## Exports$/m)[1]?.split(/^## /m)[0];
  if (section === undefined) return undefined;
  const heading = `### \`${specifier}\``;
  const start = section.split('\n').findIndex((line) => line.trim() === heading);
  if (start < 0) return undefined;
  const body: string[] = [];
  for (const line of section.split('\n').slice(start + 1)) {
    if (line.startsWith('#')) break;
    body.push(line);
  }
  const names = (kind: string) => {
    const line = body.join('\n').match(new RegExp(`^- ${kind}:(.*(?:\\n {2}.*)*)`, 'm'))?.[1] ?? '';
    return [...line.matchAll(/`([A-Za-z_$][\w$]*)`/g)].map((m) => m[1] ?? '');
  };
  return { values: names('values'), types: names('types') };
}

/** The section as it should read, for the failure message. */
function expectedSection(specifier: string, values: string[], types: string[]): string {
  const list = (names: string[]) => (names.length ? names.map((n) => `\`${n}\``).join(', ') : 'none');
  return `### \`${specifier}\`\n\n- values: ${list(values)}\n- types: ${list(types)}\n`;
}

const sorted = (names: Iterable<string>) => [...names].sort((a, b) => a.localeCompare(b, 'en'));

const folders = readdirSync(join(ROOT, 'packages')).filter((folder) =>
  existsSync(join(ROOT, 'packages', folder, 'package.json')),
);

describe('every README lists its package entries’ exports', { timeout: 60_000 }, () => {
  for (const folder of folders) {
    const { readme, entries } = entriesOf(folder);
    for (const entry of entries) {
      it(entry.specifier, async () => {
        const runtime = Object.keys(await import(pathToFileURL(entry.js).href));
        const declared = declaredNames(entry.dts);
        // What runs is what is declared.
        expect(sorted(runtime.filter((name) => !declared.includes(name)))).toEqual([]);
        const values = sorted(runtime);
        const types = sorted(declared.filter((name) => !runtime.includes(name)));
        const found = listed(readme, entry.specifier);
        const hint = `README section expected in packages/${folder}/README.md under "## Exports":\n\n${expectedSection(entry.specifier, values, types)}`;
        expect(found, hint).toBeDefined();
        expect(sorted(found?.values ?? []), hint).toEqual(values);
        expect(sorted(found?.types ?? []), hint).toEqual(types);
      });
    }
  }
});
