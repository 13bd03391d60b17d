import type { Driver, ProbeResult } from '../driver/driver.js';
import { HypervisorError } from '../errors/hypervisor-error.js';

/** A probe's verdict with its timing, as the cache hands it out. */
export interface ProbeOutcome {
  /** The verdict; failures of the probe itself are turned into `healthy: false` verdicts. */
  readonly probe: ProbeResult;
  /** How long the probe ran, in milliseconds. */
  readonly durationMs: number;
  /** True when the verdict came from a finished probe in the cache. */
  readonly cached: boolean;
}

/** How {@link acquireProbe} runs or reuses a probe. */
export interface ProbeRequest {
  /** The time box of a newly started probe, in milliseconds. */
  readonly timeoutMs: number;
  /** How long a finished probe's verdict stays reusable, in milliseconds (0: never). */
  readonly cacheTtlMs: number;
  /** Ignore finished verdicts (a probe still running is joined: its verdict is fresh anyway). */
  readonly refresh: boolean;
  /** The clock of the cache's time to live. */
  readonly now: () => number;
}

/**
 * A claim on one driver's probe. The probe keeps running while at least one lease
 * on it is unreleased; releasing the last one aborts it and forgets it.
 */
export interface ProbeLease {
  /** Resolves with the verdict; never rejects. Stays pending after the lease's probe is cancelled. */
  readonly promise: Promise<ProbeOutcome>;
  /** Gives the lease up (idempotent). `reason` is passed to the probe's signal when it is the last lease. */
  release(reason?: unknown): void;
}

interface Entry {
  readonly promise: Promise<ProbeOutcome>;
  /** When the probe finished, by the request's clock; `undefined` while it runs. */
  settledAt: number | undefined;
  /** The finished probe's outcome. */
  outcome: ProbeOutcome | undefined;
  /** Unreleased leases on the running probe. */
  leases: number;
  /** Stops the running probe and drops the entry. */
  cancel(reason: unknown): void;
}

let cache = new WeakMap<Driver, Entry>();

/**
 * Returns a lease on `driver`'s probe: a cached verdict younger than the time to live,
 * the probe already running for another caller, or a new time-boxed probe.
 */
export function acquireProbe(driver: Driver, request: ProbeRequest): ProbeLease {
  let entry = cache.get(driver);
  if (entry?.outcome !== undefined && entry.settledAt !== undefined) {
    const age = request.now() - entry.settledAt;
    if (!request.refresh && age >= 0 && age < request.cacheTtlMs) {
      return { promise: Promise.resolve({ ...entry.outcome, cached: true }), release: () => {} };
    }
    entry = undefined;
  }
  if (entry === undefined) {
    entry = startProbe(driver, request);
    cache.set(driver, entry);
  }
  const running = entry;
  running.leases += 1;
  let released = false;
  return {
    promise: running.promise,
    release(reason) {
      if (released) return;
      released = true;
      running.leases -= 1;
      if (running.leases === 0 && running.outcome === undefined) running.cancel(reason);
    },
  };
}

/** Forgets every cached verdict (for tests and for a long-lived process that wants a clean slate). */
export function clearProbeCache(): void {
  cache = new WeakMap();
}

function startProbe(driver: Driver, request: ProbeRequest): Entry {
  const { timeoutMs } = request;
  const controller = new AbortController();
  const started = performance.now();
  let resolveOutcome: (outcome: ProbeOutcome) => void = () => {};
  let done = false;

  const entry: Entry = {
    promise: new Promise<ProbeOutcome>((resolve) => {
      resolveOutcome = resolve;
    }),
    settledAt: undefined,
    outcome: undefined,
    leases: 0,
    cancel(reason) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      controller.abort(reason);
      if (cache.get(driver) === entry) cache.delete(driver);
    },
  };

  const finish = (probe: ProbeResult): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    const outcome: ProbeOutcome = { probe, durationMs: performance.now() - started, cached: false };
    entry.outcome = outcome;
    entry.settledAt = request.now();
    resolveOutcome(outcome);
  };

  // The timer exists before the probe is called, so a probe that throws synchronously still clears it.
  const timer = setTimeout(() => {
    controller.abort(
      new HypervisorError('EXTERNAL', `The probe of ${driver.name} timed out after ${timeoutMs} ms`, {
        details: { driver: driver.name, timeoutMs },
      }),
    );
    finish(timedOut(driver, timeoutMs));
  }, timeoutMs);

  let pending: Promise<unknown>;
  try {
    pending = Promise.resolve(driver.probe({ signal: controller.signal }));
  } catch (error) {
    pending = Promise.reject(error);
  }
  pending.then(
    (result) => finish(validated(result)),
    (error: unknown) => finish(failed(error)),
  );
  return entry;
}

function timedOut(driver: Driver, timeoutMs: number): ProbeResult {
  return {
    installed: true,
    healthy: false,
    score: 0,
    reason: `probe timed out after ${timeoutMs} ms`,
    fix: `Check that ${driver.name} responds (its service may be hung), or raise the detector's timeoutMs.`,
    details: { probeFailure: 'timeout', timeoutMs },
  };
}

function failed(error: unknown): ProbeResult {
  const message = error instanceof Error ? error.message : String(error);
  return {
    installed: true,
    healthy: false,
    score: 0,
    reason: message === '' ? 'probe failed' : message,
    details: { probeFailure: 'error', error: message },
  };
}

function validated(result: unknown): ProbeResult {
  if (typeof result !== 'object' || result === null) return malformed('not an object');
  const r = result as Record<string, unknown>;
  if (typeof r['installed'] !== 'boolean') return malformed('`installed` is not a boolean');
  if (typeof r['healthy'] !== 'boolean') return malformed('`healthy` is not a boolean');
  if (typeof r['score'] !== 'number' || !Number.isFinite(r['score'])) {
    return malformed('`score` is not a finite number');
  }
  const probe = result as ProbeResult;
  // A driver that is not installed cannot be healthy, whatever it says.
  return probe.healthy && !probe.installed ? { ...probe, healthy: false } : probe;
}

function malformed(what: string): ProbeResult {
  return {
    installed: true,
    healthy: false,
    score: 0,
    reason: `probe returned an invalid result: ${what}`,
    details: { probeFailure: 'invalid-result' },
  };
}
