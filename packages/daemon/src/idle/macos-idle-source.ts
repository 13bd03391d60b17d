import { defaultIdleCommandRunner, describeFailure, type IdleCommandRunner } from './command-runner.js';
import type { IdleProbe, IdleReading, IdleReadOptions, IdleSource } from './idle-source.js';

/** Options of {@link macosIdleSource}. */
export interface MacosIdleSourceOptions {
  /** Runs `ioreg`; default: core's process runner. */
  runner?: IdleCommandRunner;
  /** Default `process.platform`. */
  platform?: NodeJS.Platform;
  /** Time limit of one run, ms (default 3000). */
  timeoutMs?: number;
}

/** The `ioreg` arguments: the IOHIDSystem object and only its `HIDIdleTime`-bearing entry, one level deep. */
export const IOREG_ARGS = ['-c', 'IOHIDSystem', '-r', '-d', '1', '-k', 'HIDIdleTime'] as const;

/**
 * Parses `ioreg -c IOHIDSystem` output: the first `"HIDIdleTime" = <n>` gives
 * nanoseconds since the last HID (keyboard, mouse, trackpad) event. Some
 * systems print the value as a data blob (`<…>`, little-endian bytes); both
 * forms are read. `HIDIdleTimeDelta` and similar keys are not mistaken for it.
 */
export function parseIoregHidIdle(stdout: string): IdleReading {
  const match = /"HIDIdleTime"\s*=\s*(?:(\d+)|<([0-9a-fA-F]+)>)/.exec(stdout);
  if (!match) return { unknown: 'ioreg printed no HIDIdleTime' };
  let ns: bigint;
  if (match[1] !== undefined) ns = BigInt(match[1]);
  else {
    const hex = match[2] ?? '';
    ns = 0n;
    for (let i = hex.length - 2; i >= 0; i -= 2)
      ns = (ns << 8n) | BigInt(Number.parseInt(hex.slice(i, i + 2), 16));
  }
  return { idleSeconds: Number(ns / 1_000_000n) / 1000 };
}

/**
 * macOS input idle time from `ioreg -c IOHIDSystem` (`HIDIdleTime`, ns).
 *
 * Limits: spawns `ioreg` on each read (a few milliseconds). The value is the
 * whole machine's HID idle time, so it is right for the console user even
 * when the daemon runs over SSH or as a launch daemon.
 */
export function macosIdleSource(options: MacosIdleSourceOptions = {}): IdleSource {
  const runner = options.runner ?? defaultIdleCommandRunner;
  const platform = options.platform ?? process.platform;
  const timeoutMs = options.timeoutMs ?? 3000;
  const read = async ({ signal }: IdleReadOptions = {}): Promise<IdleReading> => {
    if (platform !== 'darwin') return { unknown: 'not macOS' };
    const result = await runner.run('ioreg', IOREG_ARGS, { signal, timeoutMs, reject: false });
    if (result.exitCode !== 0) return { unknown: describeFailure('ioreg', result) };
    return parseIoregHidIdle(result.stdout);
  };
  return {
    name: 'macos',
    async probe(probeOptions: IdleReadOptions = {}): Promise<IdleProbe> {
      if (platform !== 'darwin') return { status: 'not-applicable', score: 0, reason: 'not macOS' };
      const reading = await read(probeOptions);
      return 'unknown' in reading
        ? { status: 'broken', score: 0, reason: reading.unknown }
        : { status: 'usable', score: 90 };
    },
    read,
  };
}
