import { posix, win32 } from 'node:path';

/**
 * npm's global `node_modules` directory, without running `npm root -g`: under the prefix of
 * `npm_config_prefix` / `NPM_CONFIG_PREFIX` when set (npm sets it for the scripts it runs, users set
 * it for a per-user global directory), else the prefix of the running Node.js
 * (`<prefix>/bin/node` → `<prefix>/lib/node_modules`; on Windows `<prefix>\node.exe` →
 * `<prefix>\node_modules`), as npm derives its default.
 */
export function globalNodeModules(
  env: NodeJS.ProcessEnv,
  execPath: string = process.execPath,
  platform: NodeJS.Platform = process.platform,
): string {
  const configured = env['npm_config_prefix'] || env['NPM_CONFIG_PREFIX'];
  if (platform === 'win32') return win32.join(configured || win32.dirname(execPath), 'node_modules');
  return posix.join(configured || posix.dirname(posix.dirname(execPath)), 'lib', 'node_modules');
}
