import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import type { Plugin } from 'esbuild';
import { defineConfig } from 'tsup';
import { packageConfig } from '../../tsup.config.base.ts';

const builtins = new Set(builtinModules);

/**
 * Core's error classes are pure, but its bundle also imports Node built-ins for
 * other modules. For the browser they are external and side-effect free, so
 * tree-shaking drops them (a test checks that the bundle imports nothing).
 */
const dropNodeBuiltins: Plugin = {
  name: 'drop-node-builtins',
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      const name = args.path.replace(/^node:/, '').split('/')[0] ?? '';
      if (args.path.startsWith('node:') || builtins.has(name)) {
        return { path: args.path, external: true, sideEffects: false };
      }
      return undefined;
    });
  },
};

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
  noExternal: ['@cvmweb/core'],
  esbuildPlugins: [dropNodeBuiltins],
};

export default defineConfig([
  packageConfig(
    { index: 'src/index.ts' },
    { clean: ['!client/**', '!cvmweb.global.js*', '!test-page.global.js*'] },
  ),
  // The client for bundlers: self-contained, no Node built-ins.
  { ...browser, entry: { 'client/index': 'src/client/index.ts' }, dts: true, clean: false, splitting: false },
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
