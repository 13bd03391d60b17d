import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HypervisorError } from '@cvmweb/core';
import { writeFileAtomic } from '@cvmweb/core/node';
import type { Hold } from '../policy/daemon-policy.js';

/** The daemon's own file in the state directory. */
export const DAEMON_FILE = 'daemon.json';
/** The pid file of a standalone daemon (`cvmweb daemon`). */
export const DAEMON_PID_FILE = 'daemon.pid';

/** The daemon's last action on a session. */
export interface LastAction {
  /** `pause`, `resume`, `hibernate`, `start` or `setExecutionCap`. */
  readonly action: string;
  /** The execution cap it set, for `setExecutionCap`. */
  readonly cap?: number;
  /** When it finished, ms since the epoch. */
  readonly at: number;
  /** Whether it succeeded. */
  readonly ok: boolean;
  /** The error's message when it failed. */
  readonly error?: string;
  /** Why the policy chose it. */
  readonly why: string;
}

/**
 * What `daemon.json` holds: the daemon-level settings and the daemon's memory
 * of what it did to each session, so a restarted daemon undoes its own pauses
 * and hibernations and nobody else's. Per-session policy is not here: it lives
 * in the session registry (`SessionRecord.daemon`).
 */
export interface DaemonFileContent {
  /** The file format's version. */
  readonly version: 1;
  /** Seconds without input before the system counts as idle. */
  readonly idleTime: number;
  /** Sessions the daemon paused or hibernated itself. */
  readonly holds: Readonly<Record<string, Hold>>;
  /** The daemon's last action per session. */
  readonly lastActions: Readonly<Record<string, LastAction>>;
}

/** The default `idleTime`, seconds (the original daemon's). */
export const DEFAULT_IDLE_TIME = 30;

/** Checks an `idleTime`: an integer number of seconds from 1 to 86 400, else `INVALID_USAGE`. */
export function validateIdleTime(seconds: unknown): number {
  if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < 1 || seconds > 86_400) {
    throw new HypervisorError(
      'INVALID_USAGE',
      'idleTime must be an integer number of seconds from 1 to 86400',
      {
        details: { field: 'idleTime', value: seconds },
      },
    );
  }
  return seconds;
}

/**
 * Reads `<stateDir>/daemon.json`. A missing file gives `undefined`; an
 * unreadable or malformed one too, with `onWarning` told (the daemon then
 * starts from defaults rather than refusing to run).
 */
export async function readDaemonFile(
  stateDir: string,
  onWarning?: (message: string) => void,
): Promise<DaemonFileContent | undefined> {
  const path = join(stateDir, DAEMON_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      onWarning?.(`cannot read ${path}: ${String(error)}`);
    return undefined;
  }
  try {
    const raw = JSON.parse(text) as Partial<DaemonFileContent>;
    const holds: Record<string, Hold> = {};
    for (const [id, hold] of Object.entries(raw.holds ?? {})) {
      if (hold === 'paused' || hold === 'hibernated') holds[id] = hold;
    }
    const lastActions: Record<string, LastAction> = {};
    for (const [id, last] of Object.entries(raw.lastActions ?? {})) {
      if (last && typeof last.action === 'string' && typeof last.at === 'number') lastActions[id] = last;
    }
    let idleTime = DEFAULT_IDLE_TIME;
    try {
      idleTime = validateIdleTime(raw.idleTime);
    } catch {
      onWarning?.(`${path}: invalid idleTime ${JSON.stringify(raw.idleTime)}, using ${DEFAULT_IDLE_TIME}`);
    }
    return { version: 1, idleTime, holds, lastActions };
  } catch (error) {
    onWarning?.(`${path} is not valid JSON: ${String(error)}`);
    return undefined;
  }
}

/** Writes `<stateDir>/daemon.json` atomically (temporary file, fsync, rename), mode 0600. */
export async function writeDaemonFile(stateDir: string, content: DaemonFileContent): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(join(stateDir, DAEMON_FILE), `${JSON.stringify(content, null, 2)}\n`, {
    mode: 0o600,
  });
}
