import type { DaemonSystemState, DaemonTimelineEntry } from '@cvmweb/core';

/** The system as the daemon sees it (`DaemonSystemState` of `@cvmweb/core`). */
export type SystemState = DaemonSystemState;

/** One point of the daemon's timeline (`DaemonTimelineEntry` of `@cvmweb/core`). `at` is ms since the epoch on the daemon's clock. */
export type TimelineEvent = DaemonTimelineEntry;

/**
 * A bounded ring buffer of timeline events: at most `capacity` events, none
 * older than `horizonMs` before the newest. Memory stays bounded however long
 * the daemon runs.
 */
export class Timeline {
  readonly #capacity: number;
  readonly #horizonMs: number;
  readonly #buffer: (TimelineEvent | undefined)[];
  #start = 0;
  #size = 0;

  constructor(options: { capacity?: number; horizonMs?: number } = {}) {
    this.#capacity = Math.max(1, Math.floor(options.capacity ?? 10_000));
    this.#horizonMs = options.horizonMs ?? 15 * 60_000;
    this.#buffer = new Array(this.#capacity);
  }

  /** The time window kept, ms. */
  get horizonMs(): number {
    return this.#horizonMs;
  }

  /** Number of events held. */
  get size(): number {
    return this.#size;
  }

  /** Appends an event, dropping the oldest beyond the capacity or the horizon. */
  push(event: TimelineEvent): void {
    const index = (this.#start + this.#size) % this.#capacity;
    this.#buffer[index] = event;
    if (this.#size < this.#capacity) this.#size += 1;
    else this.#start = (this.#start + 1) % this.#capacity;
    this.#prune(event.at);
  }

  /** Events at or after `since` (default: all held), oldest first. */
  events(since = Number.NEGATIVE_INFINITY): TimelineEvent[] {
    const out: TimelineEvent[] = [];
    for (let i = 0; i < this.#size; i++) {
      const event = this.#buffer[(this.#start + i) % this.#capacity]!;
      if (event.at >= since) out.push(event);
    }
    return out;
  }

  #prune(now: number): void {
    while (this.#size > 0) {
      const oldest = this.#buffer[this.#start]!;
      if (now - oldest.at <= this.#horizonMs) break;
      this.#buffer[this.#start] = undefined;
      this.#start = (this.#start + 1) % this.#capacity;
      this.#size -= 1;
    }
  }
}
