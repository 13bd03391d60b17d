import { constants, Script } from 'node:vm';

type ImportFunction = (url: string) => Promise<Record<string, unknown>>;

let vmImport: ImportFunction | undefined;

/**
 * `import(url)`, also in the single-file `cvmweb`: Node 20 runs a single executable's script
 * without a dynamic import callback (the import fails with `ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING`),
 * so there the import is compiled again by `vm` with the main context's default ES module loader
 * (the one `node` itself uses; Node 20.12 or later).
 */
export async function importModule(url: string): Promise<Record<string, unknown>> {
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code !== 'ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING') throw error;
  }
  // Node 20 calls that loader experimental as the import starts: not news to a user of cvmweb.
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    if (String(warning).includes('USE_MAIN_CONTEXT_DEFAULT_LOADER')) return;
    (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    vmImport ??= new Script('(url) => import(url)', {
      importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    }).runInThisContext() as ImportFunction;
    return vmImport(url);
  } finally {
    process.emitWarning = emitWarning;
  }
}
