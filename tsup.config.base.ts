import { defineConfig, type Options } from 'tsup';

/**
 * The one build configuration every package shares: ESM only, `.d.ts` beside
 * each entry, Node 20 target. A package passes its own entry points.
 */
export function packageConfig(entry: Record<string, string>, extra: Partial<Options> = {}) {
  return defineConfig({
    entry,
    format: ['esm'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'node',
    splitting: true,
    treeshake: true,
    ...extra,
  });
}
