import { readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

const bridge = JSON.parse(readFileSync('packages/web-bridge/package.json', 'utf8')) as { version: string };

export default defineConfig({
  // What the web bridge's tsup build defines, for tests run on its sources.
  define: { __CVMWEB_CLIENT_VERSION__: JSON.stringify(bridge.version) },
  test: {
    include: ['packages/*/src/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
