import type { Driver } from '../driver/driver.js';
import { abortedError, HypervisorError } from '../errors/hypervisor-error.js';
import type { Detection, DetectionOverride } from './detection.js';
import { acquireProbe, type ProbeLease, type ProbeOutcome } from './probe-cache.js';
import { rankCandidates } from './rank.js';

/** Options of {@link detect}. */
export interface DetectOptions {
  /** Cancels the detection: `detect()` rejects at once with an aborted `CONTROL` error. */
  signal?: AbortSignal;
  /**
   * The time box of each probe, in milliseconds (default 5000). A probe still running then
   * is aborted through its signal and reported as `healthy: false`, reason
   * `probe timed out after N ms`.
   */
  timeoutMs?: number;
  /** Selects this driver by name, whatever its score; beats `CVMWEB_DRIVER`. */
  prefer?: string;
  /** Where `CVMWEB_DRIVER` is read (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** How long a probe's verdict is reused, in milliseconds (default 30 000; 0 disables the cache). */
  cacheTtlMs?: number;
  /** Probe again even when a cached verdict is fresh. A probe already running is joined, not restarted. */
  refresh?: boolean;
  /** The clock of the cache's time to live, in milliseconds (default `Date.now`). */
  now?: () => number;
}

/** The default time box of one probe, in milliseconds. */
export const DEFAULT_PROBE_TIMEOUT_MS = 5000;

/** The default time a probe's verdict is reused, in milliseconds. */
export const DEFAULT_DETECT_CACHE_TTL_MS = 30_000;

/** The environment variable that names the driver to use. */
export const DRIVER_ENV_VARIABLE = 'CVMWEB_DRIVER';

/**
 * Probes every driver in parallel and chooses the one to use.
 *
 * Each probe runs at most `timeoutMs`; a probe that times out, throws, rejects or returns
 * a malformed result becomes a `healthy: false` candidate with the reason — probes never
 * make `detect()` fail. Verdicts are cached per {@link Driver} object for `cacheTtlMs`, so
 * a second call is nearly free, and concurrent calls share the probes still running.
 *
 * The winner is the installed, healthy driver with the highest score above 0, the earliest
 * in `drivers` on a tie; a score-0 driver (a simulated one) wins only when requested. A
 * driver is requested by `prefer`, or else by the `CVMWEB_DRIVER` environment variable: it
 * then wins if it is installed and healthy, and otherwise **nothing** wins, its candidate
 * saying why — the caller decides whether to fail or to fall back to another driver.
 *
 * @param drivers The drivers to consider, in order of preference for ties.
 * @returns Every candidate with its verdict, and the winner if there is one.
 * @throws {HypervisorError} `NOT_FOUND` (-9) when the requested driver is not among `drivers`
 *   (before probing); `INVALID_USAGE` (-99) for malformed options; an aborted `CONTROL` (-3)
 *   error when `signal` fires.
 *
 * @example
 * ```ts
 * const detection = await detect([kvm(), virtualbox(), mock()]);
 * if (!detection.winner) throw new Error(formatDetectionTable(detection));
 * const hypervisor = await detection.winner.driver.create();
 * ```
 */
export async function detect(drivers: readonly Driver[], options: DetectOptions = {}): Promise<Detection> {
  if (!Array.isArray(drivers)) {
    throw new HypervisorError('INVALID_USAGE', 'detect() needs an array of drivers', {
      details: { field: 'drivers' },
    });
  }
  const timeoutMs = positiveNumber(options.timeoutMs, DEFAULT_PROBE_TIMEOUT_MS, 'timeoutMs', false);
  const cacheTtlMs = positiveNumber(options.cacheTtlMs, DEFAULT_DETECT_CACHE_TTL_MS, 'cacheTtlMs', true);
  const { signal } = options;
  if (signal?.aborted) throw abortedError('Hypervisor detection', signal.reason);

  const override = requestedDriver(drivers, options);
  const leases = drivers.map((driver) =>
    acquireProbe(driver, {
      timeoutMs,
      cacheTtlMs,
      refresh: options.refresh ?? false,
      now: options.now ?? Date.now,
    }),
  );
  const outcomes = await allOrAbort(leases, signal);
  return rankCandidates(
    drivers.map((driver, i) => ({ driver, outcome: outcomes[i]! })),
    override,
  );
}

/** Resolves the override: `prefer` first, then `CVMWEB_DRIVER`; rejects a name no driver has. */
function requestedDriver(drivers: readonly Driver[], options: DetectOptions): DetectionOverride | undefined {
  const fromOption = normalisedName(options.prefer);
  const env = options.env ?? process.env;
  const fromEnv = normalisedName(env[DRIVER_ENV_VARIABLE]);
  const override: DetectionOverride | undefined = fromOption
    ? { name: fromOption, source: 'option' }
    : fromEnv
      ? { name: fromEnv, source: 'env' }
      : undefined;
  if (override && !drivers.some((d) => d.name === override.name)) {
    const known = drivers.map((d) => d.name);
    const origin =
      override.source === 'env' ? `${DRIVER_ENV_VARIABLE}=${override.name}` : `prefer: '${override.name}'`;
    throw new HypervisorError(
      'NOT_FOUND',
      `No hypervisor driver named '${override.name}' (${origin}); known drivers: ${known.length > 0 ? known.join(', ') : 'none'}`,
      { details: { name: override.name, source: override.source, known } },
    );
  }
  return override;
}

function normalisedName(value: string | undefined): string | undefined {
  if (typeof value !== 'string') return undefined;
  const name = value.trim().toLowerCase();
  return name === '' ? undefined : name;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

function positiveNumber(value: number | undefined, fallback: number, field: string, zeroOk: boolean): number {
  if (value === undefined) return fallback;
  const tooBig = !zeroOk && value > MAX_TIMER_MS; // setTimeout() fires at once beyond this
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0 || (!zeroOk && value === 0) || tooBig) {
    throw new HypervisorError(
      'INVALID_USAGE',
      `detect(): ${field} must be a ${zeroOk ? 'non-negative' : 'positive'} number of milliseconds, not ${String(value)}`,
      {
        details: { field, value },
      },
    );
  }
  return value;
}

/** Waits for every lease; on abort, releases them all (cancelling probes nobody else waits for) and rejects. */
function allOrAbort(leases: readonly ProbeLease[], signal: AbortSignal | undefined): Promise<ProbeOutcome[]> {
  const all = Promise.all(leases.map((lease) => lease.promise));
  if (!signal) return all;
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      for (const lease of leases) lease.release(signal.reason);
      reject(abortedError('Hypervisor detection', signal.reason));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    all.then((outcomes) => {
      signal.removeEventListener('abort', onAbort);
      for (const lease of leases) lease.release();
      resolve(outcomes);
    });
  });
}
