import { abortedError, type Clock } from '@cvmweb/core';
import { timeBoxed } from '@cvmweb/core/node';
import { type IdleReading, type IdleSource, isKnown } from '../idle/idle-source.js';
import type { SystemState, TimelineEvent } from './timeline.js';

const SECOND = 1000;

/** The timings of {@link SystemWatch}, ms (the daemon's options, defaults applied). */
export interface SystemTimings {
  /** Extra time the idle state must hold before the system becomes idle. */
  readonly settleMs: number;
  /** Poll interval while idle. */
  readonly idlePollMs: number;
  /** Longest poll interval while active or unknown. */
  readonly maxPollMs: number;
  /** Time limit of one read of the source. */
  readonly readTimeoutMs: number;
}

/** What one {@link SystemWatch.update} found. */
export interface SystemUpdate {
  /** The system now. */
  readonly state: SystemState;
  /** When the source was read, on the clock. */
  readonly at: number;
  /** When to read again, ms from now. */
  readonly delayMs: number;
}

/** Options of {@link SystemWatch}. */
export interface SystemWatchOptions {
  clock: Clock;
  timings: SystemTimings;
  /** Told of each change of the system (and of the first state seen after a start). */
  onChange(event: Extract<TimelineEvent, { kind: 'system' }>): void;
}

/**
 * The system as the daemon sees it: reads the idle source (time-boxed) and applies the
 * hysteresis. The system becomes idle after `idleTime` + `settleMs` without input, becomes
 * active at the first input, and is unknown when the source cannot tell (never idle then).
 *
 * It also says when to look again: while idle every `idlePollMs`; while active when the idle
 * threshold could first be crossed (at most `maxPollMs` away); while unknown after `maxPollMs`.
 */
export class SystemWatch {
  readonly #clock: Clock;
  readonly #timings: SystemTimings;
  readonly #onChange: SystemWatchOptions['onChange'];
  #state: SystemState = 'unknown';
  #seen = false;
  #reading: IdleReading | undefined;
  #readAt: number | undefined;

  constructor(options: SystemWatchOptions) {
    this.#clock = options.clock;
    this.#timings = options.timings;
    this.#onChange = options.onChange;
  }

  /** The system as last seen (`unknown` before the first read after a start). */
  get state(): SystemState {
    return this.#state;
  }
  /** The last reading. */
  get reading(): IdleReading | undefined {
    return this.#reading;
  }
  /** When the last reading was taken, on the clock. */
  get readAt(): number | undefined {
    return this.#readAt;
  }

  /** Forgets the system state (the daemon stopped); the last reading stays for status. */
  reset(): void {
    this.#state = 'unknown';
    this.#seen = false;
  }

  /**
   * Reads `source` and moves the system state with `idleTime` (seconds). `stop` cancels the
   * read: the update then rejects with an aborted `CONTROL` error.
   */
  async update(source: IdleSource | undefined, idleTime: number, stop: AbortSignal): Promise<SystemUpdate> {
    const { settleMs, idlePollMs, maxPollMs } = this.#timings;
    const reading = await this.#read(source, stop);
    const at = this.#clock.now();
    this.#reading = reading;
    this.#readAt = at;

    const enterIdle = idleTime + settleMs / SECOND;
    let state: SystemState;
    if (!isKnown(reading)) state = 'unknown';
    else if (reading.idleSeconds >= (this.#state === 'idle' ? idleTime : enterIdle)) state = 'idle';
    else state = 'active';
    if (state !== this.#state || !this.#seen) {
      this.#state = state;
      this.#seen = true;
      this.#onChange({
        at,
        kind: 'system',
        state,
        ...(isKnown(reading) ? { idleSeconds: reading.idleSeconds } : { reason: reading.unknown }),
      });
    }

    const delayMs =
      state === 'idle'
        ? idlePollMs
        : state === 'active' && isKnown(reading)
          ? Math.min(maxPollMs, Math.max(idlePollMs, (enterIdle - reading.idleSeconds) * SECOND))
          : maxPollMs;
    return { state, at, delayMs };
  }

  /**
   * One read of the source, cancelled by `stop` and abandoned after `readTimeoutMs` on the
   * clock (a source that ignores its signal must not stall the loop). A failing or late read
   * is an unknown reading.
   */
  async #read(source: IdleSource | undefined, stop: AbortSignal): Promise<IdleReading> {
    if (!source) return { unknown: 'no idle source' };
    const outcome = await timeBoxed((signal) => source.read({ signal }), {
      timeoutMs: this.#timings.readTimeoutMs,
      clock: this.#clock,
      signal: stop,
    });
    if (stop.aborted) throw abortedError('reading the idle source', stop.reason);
    if (outcome.ok) return outcome.value;
    if (outcome.why === 'timeout') return { unknown: `${source.name}: read timed out` };
    const { error } = outcome;
    return { unknown: `${source.name}: ${error instanceof Error ? error.message : String(error)}` };
  }
}
