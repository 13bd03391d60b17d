import { defaultIdleCommandRunner, describeFailure, type IdleCommandRunner } from './command-runner.js';
import type { IdleProbe, IdleReading, IdleReadOptions, IdleSource } from './idle-source.js';

/** Options of {@link x11IdleSource}. */
export interface X11IdleSourceOptions {
  /** Runs `xprintidle`; default: core's process runner. */
  runner?: IdleCommandRunner;
  /** Where `DISPLAY` and `WAYLAND_DISPLAY` are read; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** The program; default `xprintidle`. */
  command?: string;
  /** Time limit of one run, ms (default 2000). */
  timeoutMs?: number;
}

/**
 * Parses the output of `xprintidle`: one integer, the milliseconds since the
 * last input event according to the X server's MIT-SCREEN-SAVER extension
 * (`XScreenSaverQueryInfo().idle`), per xprintidle's manual page.
 */
export function parseXprintidle(stdout: string): IdleReading {
  const match = /^\s*(\d+)\s*$/.exec(stdout);
  if (!match)
    return { unknown: `xprintidle printed something unexpected: ${JSON.stringify(stdout.slice(0, 80))}` };
  return { idleSeconds: Number(match[1]) / 1000 };
}

/**
 * X11 input idle time through `xprintidle` (the X screensaver extension).
 *
 * Limits: needs `DISPLAY` and the right to connect to that display (a daemon
 * started outside the desktop session also needs `XAUTHORITY`). On a Wayland
 * desktop XWayland only sees input sent to X11 clients, so it scores below logind there.
 */
export function x11IdleSource(options: X11IdleSourceOptions = {}): IdleSource {
  const runner = options.runner ?? defaultIdleCommandRunner;
  const env = options.env ?? process.env;
  const command = options.command ?? 'xprintidle';
  const timeoutMs = options.timeoutMs ?? 2000;
  const run = (signal: AbortSignal | undefined) =>
    runner.run(command, [], {
      signal,
      timeoutMs,
      reject: false,
      env: { DISPLAY: env['DISPLAY'], ...(env['XAUTHORITY'] ? { XAUTHORITY: env['XAUTHORITY'] } : {}) },
    });
  const read = async ({ signal }: IdleReadOptions = {}): Promise<IdleReading> => {
    if (!env['DISPLAY']) return { unknown: 'no DISPLAY: not in an X11 session' };
    const result = await run(signal);
    if (result.exitCode !== 0) return { unknown: describeFailure(command, result) };
    return parseXprintidle(result.stdout);
  };
  return {
    name: 'x11',
    async probe(probeOptions: IdleReadOptions = {}): Promise<IdleProbe> {
      if (!env['DISPLAY'])
        return { status: 'not-applicable', score: 0, reason: 'no DISPLAY: not in an X11 session' };
      const reading = await read(probeOptions);
      if ('unknown' in reading) return { status: 'broken', score: 0, reason: reading.unknown };
      return env['WAYLAND_DISPLAY']
        ? { status: 'usable', score: 40, reason: 'Wayland session: XWayland sees only input to X11 clients' }
        : { status: 'usable', score: 90 };
    },
    read,
  };
}
