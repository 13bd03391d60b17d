// Each package's README is its page on npm: it says how to install the package, links only to
// absolute addresses (a relative link has nothing to point at on npm) and asks for no command of
// this repository (`npm run …` means nothing in an application).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const PACKAGES = join(dirname(fileURLToPath(import.meta.url)), '../..');

describe.each(readdirSync(PACKAGES))('packages/%s/README.md, for npm', (folder) => {
  const readme = readFileSync(join(PACKAGES, folder, 'README.md'), 'utf8');
  const { name, files } = JSON.parse(readFileSync(join(PACKAGES, folder, 'package.json'), 'utf8')) as {
    name: string;
    files: string[];
  };

  it('says how to install it and ships with its license', () => {
    expect(readme).toMatch(new RegExp(`^## Install\\n[\\s\\S]*?npm install (--global )?${name}\\b`, 'm'));
    expect(readme).toMatch(/^## License\n\nGPL-3\.0-or-later/m);
    expect(files).toEqual(expect.arrayContaining(['README.md', 'LICENSE']));
    expect(readFileSync(join(PACKAGES, folder, 'LICENSE'), 'utf8')).toContain('GNU GENERAL PUBLIC LICENSE');
  });

  it('links only to absolute addresses or its own headings', () => {
    const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] ?? '');
    expect(links.filter((link) => !/^(https:\/\/|#)/.test(link))).toEqual([]);
  });

  it('asks for no command of the repository', () => {
    expect(readme.match(/npm run [\w:-]+/g) ?? []).toEqual([]);
  });
});
