import { abortedError, type Clock, HypervisorError } from '@cvmweb/core';
import { timeBoxed } from '@cvmweb/core/node';
import type { IdleProbe, IdleReading, IdleSource } from './idle-source.js';
import { logindIdleSource } from './logind-idle-source.js';
import { macosIdleSource } from './macos-idle-source.js';
import { windowsIdleSource } from './windows-idle-source.js';
import { x11IdleSource } from './x11-idle-source.js';

/** One source as {@link pickIdleSource} saw it. */
export interface IdleCandidate {
  /** The source's name (`logind`, `x11`, `macos`, …). */
  readonly name: string;
  /** What its probe found. */
  readonly probe: IdleProbe;
  /** True for the source that was chosen. */
  readonly selected: boolean;
}

/** The choice of {@link pickIdleSource}. */
export interface IdleSourcePick {
  /** The chosen source; when nothing is usable, a source whose every read is unknown with the reasons. */
  readonly source: IdleSource;
  /** True when a usable source was found. */
  readonly found: boolean;
  /** Every candidate, the chosen one first, then usable by score, then the others. */
  readonly candidates: readonly IdleCandidate[];
}

/** Options of {@link pickIdleSource}. */
export interface PickIdleSourceOptions {
  /** Use this source by name if it is usable (otherwise nothing is picked, and the reason says why). */
  prefer?: string;
  /** Time box of each probe, ms (default 3000). A probe running longer is `broken`. */
  timeoutMs?: number;
  /** Cancels the probes; the pick then rejects with an aborted `CONTROL` error. */
  signal?: AbortSignal;
  /** Whose timer measures the time boxes. Default the system clock; tests pass core's `ManualClock`. */
  clock?: Clock;
}

/** The input idle sources of every platform, in order of preference on ties. */
export function defaultIdleSources(): IdleSource[] {
  return [x11IdleSource(), logindIdleSource(), macosIdleSource(), windowsIdleSource()];
}

/**
 * Probes every source in parallel (time-boxed) and picks the usable one with
 * the highest score, the earliest on a tie: the probe-and-score pattern of
 * hypervisor detection. With no usable source, the result's source reads
 * `unknown` with every candidate's reason, so the daemon says why instead of
 * guessing "idle".
 */
export async function pickIdleSource(
  sources: readonly IdleSource[],
  options: PickIdleSourceOptions = {},
): Promise<IdleSourcePick> {
  const timeoutMs = options.timeoutMs ?? 3000;
  if (options.prefer !== undefined && !sources.some((s) => s.name === options.prefer)) {
    throw new HypervisorError(
      'INVALID_USAGE',
      `no idle source named "${options.prefer}"; known: ${sources.map((s) => s.name).join(', ')}`,
      { details: { field: 'idleSource' } },
    );
  }
  const { signal } = options;
  if (signal?.aborted) throw abortedError('picking the idle source', signal.reason);
  const probes = await Promise.all(
    sources.map((source) => boxedProbe(source, timeoutMs, options.clock, signal)),
  );
  // The probes of a cancelled pick read `broken`: that says nothing about this machine.
  if (signal?.aborted) throw abortedError('picking the idle source', signal.reason);
  let chosen = -1;
  probes.forEach((probe, i) => {
    if (probe.status !== 'usable') return;
    if (options.prefer !== undefined) {
      if (sources[i]!.name === options.prefer) chosen = i;
    } else if (chosen < 0 || probe.score > probes[chosen]!.score) chosen = i;
  });
  const rank = (i: number) =>
    i === chosen ? 0 : probes[i]!.status === 'usable' ? 1 : probes[i]!.status === 'broken' ? 2 : 3;
  const order = sources
    .map((_, i) => i)
    .sort((a, b) => rank(a) - rank(b) || probes[b]!.score - probes[a]!.score || a - b);
  const candidates = order.map((i) => ({
    name: sources[i]!.name,
    probe: probes[i]!,
    selected: i === chosen,
  }));
  if (chosen >= 0) return { source: sources[chosen]!, found: true, candidates };
  const reason =
    candidates.length === 0
      ? 'no idle source is configured'
      : `no usable idle source (${candidates.map((c) => `${c.name}: ${c.probe.reason ?? c.probe.status}`).join('; ')})`;
  return { source: unavailableIdleSource(reason), found: false, candidates };
}

/** A source that always reads unknown with `reason`. */
export function unavailableIdleSource(reason: string): IdleSource {
  return {
    name: 'none',
    probe: async () => ({ status: 'broken', score: 0, reason }),
    read: async (): Promise<IdleReading> => ({ unknown: reason }),
  };
}

/** A probe of `source` within `timeoutMs`: a failing, hanging or cancelled probe reads `broken`. */
async function boxedProbe(
  source: IdleSource,
  timeoutMs: number,
  clock: Clock | undefined,
  signal: AbortSignal | undefined,
): Promise<IdleProbe> {
  const outcome = await timeBoxed((probeSignal) => source.probe({ signal: probeSignal }), {
    timeoutMs,
    ...(clock ? { clock } : {}),
    ...(signal ? { signal } : {}),
  });
  if (outcome.ok) return outcome.value;
  const reason =
    outcome.why === 'timeout'
      ? `probe timed out after ${timeoutMs} ms`
      : outcome.why === 'aborted'
        ? 'probe aborted'
        : outcome.error instanceof Error
          ? outcome.error.message
          : String(outcome.error);
  return { status: 'broken', score: 0, reason };
}
