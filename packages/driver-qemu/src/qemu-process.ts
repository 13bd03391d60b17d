import { readFile } from 'node:fs/promises';
import type { VmPowerState } from '@cvmweb/core';
import { isProcessAlive } from '@cvmweb/core/node';

/** The pid of QEMU's pid file, or `undefined`. */
export async function readPid(file: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isSafeInteger(pid) && pid > 1 ? pid : undefined;
}

/**
 * True when `pid` is a live QEMU of the VM whose pid file is `pidFile`. On Linux `/proc` tells a
 * zombie (a daemon whose parent does not reap it) and a reused pid apart: the process must not
 * be a zombie and its command line must name that pid file. Elsewhere `kill(pid, 0)` decides.
 */
export async function isQemuAlive(pid: number, pidFile: string): Promise<boolean> {
  if (!isProcessAlive(pid)) return false;
  if (process.platform !== 'linux') return true;
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // The state follows the command name in parentheses, which may itself hold spaces or ')'.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  if (state === '' || state === 'Z' || state === 'X') return false;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.split('\0').includes(pidFile);
}

/** The live QEMU of `pidFile`, or `undefined`. */
export async function liveQemu(pidFile: string): Promise<number | undefined> {
  const pid = await readPid(pidFile);
  return pid !== undefined && (await isQemuAlive(pid, pidFile)) ? pid : undefined;
}

/** QEMU's run states (`query-status`) as cvmweb's power states. */
const PAUSED = new Set([
  'paused',
  'suspended',
  'debug',
  'prelaunch',
  'inmigrate',
  'finish-migrate',
  'postmigrate',
  'save-vm',
  'restore-vm',
  'colo',
]);

/** A QEMU run state (`query-status`) as cvmweb's power state. */
export function powerStateOf(status: string): VmPowerState {
  if (status === 'running') return 'running';
  if (status === 'shutdown') return 'poweroff';
  return PAUSED.has(status) ? 'paused' : 'error';
}
