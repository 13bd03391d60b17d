import { defineConfig } from 'vitest/config';

// `npm run test:conformance-mutants`: only the conformance suite's mutant runs (scripts/conformance-mutants.mjs).
export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.mutants.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
