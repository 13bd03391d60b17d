import { HypervisorError } from '@cvmweb/core';
import { forPages } from '../protocol/wire-error.js';

/** Options of {@link KeyAttemptThrottle}. */
export interface KeyAttemptThrottleOptions {
  /** Attempts without delay, default 5. */
  freeAttempts?: number;
  /** The delay after the free attempts, ms, doubling with each further attempt; default 1000. */
  baseDelayMs?: number;
  /** The longest delay, ms; default 5 minutes. */
  maxDelayMs?: number;
  /** Current time; default `Date.now`. */
  now?: () => number;
}

/** After this long without an attempt, a name's count starts again. */
const FORGET_AFTER_MS = 15 * 60_000;

/** Most (origin, name) pairs tracked; the least recently tried is forgotten first. */
const MAX_ENTRIES = 10_000;

/**
 * Throttles guessing of a session's secret key, per origin and session name:
 * after a few attempts that did not prove the key, each further attempt must
 * wait a doubling delay, and attempts during it are refused at once with
 * `PASSWORD_DENIED` (-20), `details.reason` `throttled` and `retryAfterMs`,
 * before any key is checked. An attempt counts when it starts (concurrent
 * guesses cannot slip through); the right key clears the count.
 */
export class KeyAttemptThrottle {
  readonly #entries = new Map<string, { attempts: number; until: number; at: number }>();
  readonly #free: number;
  readonly #base: number;
  readonly #max: number;
  readonly #now: () => number;

  constructor(options: KeyAttemptThrottleOptions = {}) {
    this.#free = options.freeAttempts ?? 5;
    this.#base = options.baseDelayMs ?? 1000;
    this.#max = options.maxDelayMs ?? 5 * 60_000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Counts an attempt at the key of `origin`'s session `name`.
   *
   * @throws `HypervisorError` `PASSWORD_DENIED` (-20), `details.reason` `throttled`, while the name is throttled.
   */
  attempt(origin: string, name: string): void {
    const key = `${origin}\n${name}`;
    const now = this.#now();
    let entry = this.#entries.get(key);
    if (entry && now - entry.at > FORGET_AFTER_MS) entry = undefined;
    if (entry && entry.until > now) {
      const retryAfterMs = entry.until - now;
      throw forPages(
        new HypervisorError(
          'PASSWORD_DENIED',
          `too many wrong keys for this session; try again in ${Math.ceil(retryAfterMs / 1000)} seconds`,
          { details: { reason: 'throttled', retryAfterMs } },
        ),
      );
    }
    entry ??= { attempts: 0, until: 0, at: now };
    entry.attempts++;
    entry.at = now;
    if (entry.attempts >= this.#free) {
      entry.until = now + Math.min(this.#max, this.#base * 2 ** (entry.attempts - this.#free));
    }
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    if (this.#entries.size > MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value!);
  }

  /** The key of `origin`'s session `name` was right: its count is cleared. */
  succeeded(origin: string, name: string): void {
    this.#entries.delete(`${origin}\n${name}`);
  }
}
