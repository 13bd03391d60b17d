import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** How long the consent page's buttons ignore clicks after it appears, ms. */
export const CONSENT_CLICK_DELAY_MS = 800;

/** How long a rendered consent page may still decide, ms (then the person reloads it). */
const STAMP_LIFETIME_MS = 60 * 60_000;

/**
 * Guards the consent page against double-click-jacking: a site that opens the
 * page under the person's pointer must not turn the second click of a
 * double-click into a decision. Each rendered page carries a signed time
 * stamp; a decision posted sooner than {@link CONSENT_CLICK_DELAY_MS} after
 * it (or with a forged or stale stamp) is ignored. The page also keeps its
 * buttons inert for that long (CSS), so a person never meets the refusal.
 */
export class ClickGuard {
  readonly #key = randomBytes(32);
  readonly #delayMs: number;
  readonly #now: () => number;

  constructor(options: { delayMs?: number; now?: () => number } = {}) {
    this.#delayMs = options.delayMs ?? CONSENT_CLICK_DELAY_MS;
    this.#now = options.now ?? Date.now;
  }

  /** The delay, ms. */
  get delayMs(): number {
    return this.#delayMs;
  }

  /** A stamp for a page rendered now. */
  stamp(): string {
    const at = String(this.#now());
    return `${at}.${this.#sign(at)}`;
  }

  /** `ok` for a stamp of this run old enough and not stale, `too-soon`, or `invalid`. */
  check(stamp: string | null): 'ok' | 'too-soon' | 'invalid' {
    const [at = '', signature = ''] = (stamp ?? '').split('.');
    const expected = Buffer.from(this.#sign(at));
    const given = Buffer.from(signature);
    if (!/^\d{1,16}$/.test(at) || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return 'invalid';
    }
    const age = this.#now() - Number(at);
    if (age < this.#delayMs) return 'too-soon';
    return age > STAMP_LIFETIME_MS ? 'invalid' : 'ok';
  }

  #sign(at: string): string {
    return createHmac('sha256', this.#key).update(at).digest('base64url');
  }
}
