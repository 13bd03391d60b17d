import type { SessionRecord } from '@cvmweb/core';
import { Timeline, type TimelineEvent } from './timeline.js';

/** Options of {@link TimelineRecorder}. */
export interface TimelineRecorderOptions {
  /** The window kept, ms, and the capacity in events (see {@link Timeline}). */
  horizonMs?: number;
  capacity?: number;
  /** Told of each event as it is recorded. */
  onEvent(event: TimelineEvent): void;
}

/**
 * The daemon's timeline as it writes it: every event goes into the bounded {@link Timeline}
 * and out to a listener; a session's state, hibernation and cap are recorded only when they
 * differ from what was last recorded for it.
 */
export class TimelineRecorder {
  readonly #timeline: Timeline;
  readonly #onEvent: (event: TimelineEvent) => void;
  /** The last recorded `state/hibernated/cap` of each session, and the record it was read from. */
  readonly #seen = new Map<string, { key: string; record: SessionRecord }>();

  constructor(options: TimelineRecorderOptions) {
    this.#timeline = new Timeline({
      ...(options.horizonMs !== undefined ? { horizonMs: options.horizonMs } : {}),
      ...(options.capacity !== undefined ? { capacity: options.capacity } : {}),
    });
    this.#onEvent = options.onEvent;
  }

  /** Records `event` and tells the listener. */
  record(event: TimelineEvent): void {
    this.#timeline.push(event);
    this.#onEvent(event);
  }

  /** Records the session as of `at` if it changed since it was last recorded. */
  noteSession(record: SessionRecord, at: number): void {
    const seen = this.#seen.get(record.id);
    if (seen?.record === record) return; // records are immutable: the same one says the same
    const key = `${record.state}/${record.hibernated}/${record.executionCap}`;
    this.#seen.set(record.id, { key, record });
    if (seen?.key === key) return;
    this.record({
      at,
      kind: 'session',
      sessionId: record.id,
      name: record.name,
      state: record.state,
      hibernated: record.hibernated,
      executionCap: record.executionCap,
    });
  }

  /** Forgets the sessions not in `live` (a session that comes back is recorded anew). */
  keepSessions(live: ReadonlySet<string>): void {
    for (const id of this.#seen.keys()) if (!live.has(id)) this.#seen.delete(id);
  }

  /** Events at or after `since` (ms), oldest first. */
  events(since?: number): TimelineEvent[] {
    return this.#timeline.events(since);
  }
}
