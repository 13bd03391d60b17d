import { isErrno } from '../files/is-errno.js';

/**
 * True when process `pid` exists: `kill(pid, 0)` succeeds, or fails with `EPERM` (it exists but
 * belongs to another user). A zombie still counts as alive; callers that must tell one apart read
 * `/proc` themselves.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return isErrno(error, 'EPERM');
  }
}
