// Types of scripts/readme-examples.mjs, for the TypeScript test that uses it.
import type ts from 'typescript';

/** One README's examples, written out as one module. */
export interface ReadmeModule {
  /** The README, relative to the repository. */
  readme: string;
  /** The module's file. */
  file: string;
  /** Whether it imports vitest (runs as a vitest test file). */
  vitest: boolean;
  /** Why it is type-checked only, when it is. */
  notRun: string | undefined;
}

export function tsBlocks(markdown: string): { source: string; notRun?: string }[];
export function readmePaths(root: string): string[];
export function writeReadmeModules(root: string, dir: string): Promise<ReadmeModule[]>;
export function runReadmeModules(options: {
  dir: string;
  modules: ReadmeModule[];
  env: NodeJS.ProcessEnv;
  ts: typeof ts;
  log?: (line: string) => void;
}): Promise<string[]>;
