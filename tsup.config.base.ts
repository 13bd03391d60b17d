import { defineConfig, type Options } from 'tsup';

/**
 * The one build configuration every package shares: ESM only, `.d.ts` beside
 * each entry (without the members marked `@internal`), Node 20 target. A package
 * passes its own entry points.
 */
export function packageConfig(entry: Record<string, string>, extra: Partial<Options> = {}) {
  return defineConfig({
    entry,
    format: ['esm'],
    dts: { compilerOptions: { stripInternal: true } },
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'node',
    splitting: true,
    treeshake: true,
    ...extra,
  });
}
