import type { ProcessResult } from '@cvmweb/core/node';
import { defaultIdleCommandRunner, describeFailure, type IdleCommandRunner } from './command-runner.js';
import type { IdleProbe, IdleReading, IdleReadOptions, IdleSource } from './idle-source.js';

/** Options of {@link logindIdleSource}. */
export interface LogindIdleSourceOptions {
  /** Runs `loginctl`; default: core's process runner. */
  runner?: IdleCommandRunner;
  /** Where `XDG_SESSION_ID` is read; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** The login session to watch; default `XDG_SESSION_ID`, else `auto` (the caller's session). */
  sessionId?: string;
  /** Wall-clock time in ms since the epoch (IdleSinceHint is a wall-clock time); default `Date.now`. */
  now?: () => number;
  /** Time limit of one run, ms (default 2000). */
  timeoutMs?: number;
}

/** The fields of `loginctl show-session <id> -p IdleHint -p IdleSinceHint -p Type -p Active`. */
export interface LogindSessionIdle {
  readonly idleHint: boolean;
  /** µs since the epoch when the session became idle; 0 when not idle. */
  readonly idleSinceUs: number;
  readonly type?: string;
  readonly active?: boolean;
}

/**
 * Parses `loginctl show-session` property output (`Key=value` lines, as
 * documented in loginctl(1) for `show-session -p`). `IdleSinceHint` is a
 * CLOCK_REALTIME timestamp in microseconds (org.freedesktop.login1(5)).
 */
export function parseLoginctlIdle(stdout: string): LogindSessionIdle | { readonly unknown: string } {
  const fields = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const index = line.indexOf('=');
    if (index > 0) fields.set(line.slice(0, index).trim(), line.slice(index + 1).trim());
  }
  const hint = fields.get('IdleHint');
  if (hint !== 'yes' && hint !== 'no') return { unknown: 'loginctl gave no IdleHint' };
  const since = Number(fields.get('IdleSinceHint') ?? '0');
  const type = fields.get('Type');
  const active = fields.get('Active');
  return {
    idleHint: hint === 'yes',
    idleSinceUs: Number.isFinite(since) && since > 0 ? since : 0,
    ...(type ? { type } : {}),
    ...(active === 'yes' || active === 'no' ? { active: active === 'yes' } : {}),
  };
}

/** Idle seconds from a parsed session at wall-clock `nowMs`: 0 while `IdleHint=no`. */
export function logindIdleSeconds(session: LogindSessionIdle, nowMs: number): IdleReading {
  if (!session.idleHint) return { idleSeconds: 0 };
  if (session.idleSinceUs === 0) return { unknown: 'IdleHint=yes without IdleSinceHint' };
  return { idleSeconds: Math.max(0, nowMs / 1000 - session.idleSinceUs / 1e6) };
}

/**
 * systemd-logind's `IdleHint` / `IdleSinceHint` of the user's login session,
 * for Wayland desktops (GNOME, KDE) that report idleness to logind.
 *
 * Limits: coarse. The desktop sets `IdleHint` only after its own idle delay
 * (GNOME's `idle-delay`, 5 minutes by default), so the idle time reads 0 until
 * then and an `idleTime` shorter than that delay behaves as that delay. Text
 * sessions get `IdleHint` from the terminal's last access. Without systemd
 * (containers, WSL, other init systems) the source does not apply.
 */
export function logindIdleSource(options: LogindIdleSourceOptions = {}): IdleSource {
  const runner = options.runner ?? defaultIdleCommandRunner;
  const env = options.env ?? process.env;
  const sessionId = options.sessionId ?? env['XDG_SESSION_ID'] ?? 'auto';
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? 2000;
  type Answer =
    | { readonly failure: string; readonly result: ProcessResult }
    | { readonly parsed: LogindSessionIdle | { readonly unknown: string } };
  const query = async (signal: AbortSignal | undefined): Promise<Answer> => {
    const result = await runner.run(
      'loginctl',
      ['show-session', sessionId, '-p', 'IdleHint', '-p', 'IdleSinceHint', '-p', 'Type', '-p', 'Active'],
      { signal, timeoutMs, reject: false },
    );
    if (result.exitCode !== 0) return { failure: describeFailure('loginctl', result), result };
    return { parsed: parseLoginctlIdle(result.stdout) };
  };
  return {
    name: 'logind',
    async probe({ signal }: IdleReadOptions = {}): Promise<IdleProbe> {
      const answer = await query(signal);
      if ('failure' in answer) {
        const text = `${answer.result.stderr} ${answer.result.stdout}`;
        const noSystemd =
          answer.result.errorCode === 'ENOENT' ||
          /not been booted with systemd|Failed to connect to bus|Host is down/i.test(text);
        const noSession = /No session|Could not get session|not in a session|No such/i.test(text);
        return noSystemd || noSession
          ? {
              status: 'not-applicable',
              score: 0,
              reason: noSystemd
                ? `no systemd-logind: ${answer.failure}`
                : `no login session: ${answer.failure}`,
            }
          : { status: 'broken', score: 0, reason: answer.failure };
      }
      if ('unknown' in answer.parsed) return { status: 'broken', score: 0, reason: answer.parsed.unknown };
      const graphical = answer.parsed.type === 'wayland' || answer.parsed.type === 'x11';
      return graphical
        ? {
            status: 'usable',
            score: env['WAYLAND_DISPLAY'] ? 80 : 50,
            reason: 'IdleHint is set only after the desktop’s own idle delay',
          }
        : {
            status: 'usable',
            score: 20,
            reason: `a ${answer.parsed.type ?? 'text'} session: idleness of its terminal`,
          };
    },
    async read({ signal }: IdleReadOptions = {}): Promise<IdleReading> {
      const answer = await query(signal);
      if ('failure' in answer) return { unknown: answer.failure };
      if ('unknown' in answer.parsed) return answer.parsed;
      return logindIdleSeconds(answer.parsed, now());
    },
  };
}
