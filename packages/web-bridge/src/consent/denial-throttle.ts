/**
 * Two denials of one origin within this window block it (the original plugin's
 * rule); the default of the policy's `denialWindowSeconds`.
 */
export const DENIAL_WINDOW_MS = 5000;

/**
 * The original plugin's protection against nagging: when the person denies an
 * origin twice within a window ({@link DENIAL_WINDOW_MS} by default), the
 * origin's requests are refused without asking for a cool-down period.
 */
export class DenialThrottle {
  readonly #last = new Map<string, number>();
  readonly #blockedUntil = new Map<string, number>();

  /**
   * Records a denial of `origin` at `now`; returns true when it follows another
   * within `windowMs` and so starts a cool-down of `cooldownMs`.
   */
  recordDenial(origin: string, now: number, cooldownMs: number, windowMs = DENIAL_WINDOW_MS): boolean {
    const previous = this.#last.get(origin);
    this.#last.set(origin, now);
    if (previous !== undefined && now - previous <= windowMs) {
      this.#blockedUntil.set(origin, now + cooldownMs);
      this.#last.delete(origin);
      return true;
    }
    return false;
  }

  /** Milliseconds `origin` stays blocked after `now`, or 0. */
  blockedFor(origin: string, now: number): number {
    const until = this.#blockedUntil.get(origin);
    if (until === undefined) return 0;
    if (until <= now) {
      this.#blockedUntil.delete(origin);
      return 0;
    }
    return until - now;
  }

  /** Lifts a block (the person revoked or changed the origin's decision). */
  clear(origin: string): void {
    this.#last.delete(origin);
    this.#blockedUntil.delete(origin);
  }
}
