import { readFileSync } from 'node:fs';
import { isProcessAlive } from '@cvmweb/core/node';

/** How often {@link watchParent} looks at the parent, in ms. */
export const PARENT_POLL_MS = 500;

/** The parent pid of `pid` from `/proc/<pid>/stat` (Linux); `undefined` elsewhere or when it is gone. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The parent and grandparent when this module was loaded, at the process's start: a parent killed
 * while the command was still starting up is noticed too.
 */
const atStart = { parent: process.ppid, grandparent: parentOf(process.ppid) };

/**
 * Calls `onGone` once when the process that started this one has ended: its parent pid changed
 * (it was re-parented), the parent no longer exists (Windows does not re-parent), or — on Linux —
 * the parent itself was re-parented. The last case is `npx cvmweb serve` killed with SIGKILL: npm
 * runs the command through `sh -c`, and that shell, which waits for us, outlives npm. Started by
 * init or already orphaned (parent pid 1), there is no one to watch. The parent and grandparent are
 * those of the process's start, so an end during start-up counts. Returns a function that stops
 * watching; the timer never keeps the process alive.
 */
export function watchParent(onGone: () => void, intervalMs = PARENT_POLL_MS): () => void {
  const { parent, grandparent } = atStart;
  if (parent <= 1) return () => undefined;
  const gone = () =>
    process.ppid !== parent ||
    !isProcessAlive(parent) ||
    (grandparent !== undefined && grandparent > 1 && parentOf(parent) !== grandparent);
  const timer = setInterval(() => {
    if (!gone()) return;
    clearInterval(timer);
    onGone();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
