import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';
import { packageConfig } from '../../tsup.config.base.ts';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const browser = {
  define: { __CVMWEB_CLIENT_VERSION__: JSON.stringify(version) },
  format: ['esm'] as const,
  platform: 'browser' as const,
  target: 'es2022',
  sourcemap: true,
  treeshake: true,
  // Core's browser entry (errors, codes, states) is bundled in; it imports no Node built-ins.
  noExternal: ['@cvmweb/core'],
};

export default defineConfig([
  packageConfig(
    { index: 'src/index.ts' },
    { clean: ['!client/**', '!cvmweb.global.js*', '!test-page.global.js*', '!console.js*'] },
  ),
  // The client for bundlers: self-contained, no Node built-ins.
  {
    ...browser,
    entry: { 'client/index': 'src/client/index.ts' },
    dts: { compilerOptions: { stripInternal: true } },
    clean: false,
    splitting: false,
  },
  // One classic script defining the global CVMWeb: sites host it (also on CDNs, the package's
  // `unpkg`/`jsdelivr` file); the service serves it at /cvmweb.js.
  {
    ...browser,
    entry: { cvmweb: 'src/client/browser-global.ts' },
    format: ['iife'],
    dts: false,
    clean: false,
    minify: true,
  },
  // The console's ES module (noVNC 1.7: ESM with top-level await), served at /console.js and
  // imported by the client only when a page opens a console, so the client stays small.
  {
    ...browser,
    entry: { console: 'src/console/novnc-console.ts' },
    noExternal: ['@novnc/novnc'],
    dts: false,
    clean: false,
    splitting: false,
    minify: true,
  },
  // The test page's script, which the service serves at /test-page.js (src/page/browser/, type-checked
  // against the DOM by tsconfig.page.json).
  {
    ...browser,
    entry: { 'test-page': 'src/page/browser/test-page-script.ts' },
    format: ['iife'],
    dts: false,
    clean: false,
  },
]);
