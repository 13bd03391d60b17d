import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Where cvmweb keeps its state (session registry, VM files) by default:
 * `CVMWEB_STATE_DIR` when set; else `$XDG_STATE_HOME/cvmweb` or `~/.local/state/cvmweb`
 * on Linux and other Unixes, `~/Library/Application Support/cvmweb` on macOS,
 * `%LOCALAPPDATA%\cvmweb` on Windows.
 */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env, platform = process.platform): string {
  if (env['CVMWEB_STATE_DIR']) return env['CVMWEB_STATE_DIR'];
  if (platform === 'win32') return join(env['LOCALAPPDATA'] ?? join(homedir(), 'AppData', 'Local'), 'cvmweb');
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'cvmweb');
  return join(env['XDG_STATE_HOME'] || join(homedir(), '.local', 'state'), 'cvmweb');
}

/**
 * Where downloaded images are cached by default: `CVMWEB_CACHE_DIR` when set;
 * else `$XDG_CACHE_HOME/cvmweb` or `~/.cache/cvmweb` on Linux and other Unixes,
 * `~/Library/Caches/cvmweb` on macOS, `%LOCALAPPDATA%\cvmweb\cache` on Windows.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env, platform = process.platform): string {
  if (env['CVMWEB_CACHE_DIR']) return env['CVMWEB_CACHE_DIR'];
  if (platform === 'win32')
    return join(env['LOCALAPPDATA'] ?? join(homedir(), 'AppData', 'Local'), 'cvmweb', 'cache');
  if (platform === 'darwin') return join(homedir(), 'Library', 'Caches', 'cvmweb');
  return join(env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'cvmweb');
}
