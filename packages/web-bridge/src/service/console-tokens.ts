import { randomBytes } from 'node:crypto';
import type { Session } from '@cvmweb/core';

/** How long a console token stays usable by default, ms. */
export const CONSOLE_TOKEN_TTL_MS = 30_000;

/** Tokens kept at most; issuing more forgets the oldest. */
const MAX_TOKENS = 256;

/** What a console token grants: one connection to `session`'s display, for `origin`. @internal */
export interface ConsoleGrant {
  /** The origin the token was issued to: the console WebSocket must come from it. */
  readonly origin: string;
  /** The session whose display the console shows. */
  readonly session: Session;
  /** Aborts when the page's bridge connection ends: the console closes with it. */
  readonly signal: AbortSignal;
}

/** Options of {@link ConsoleTokens}. @internal */
export interface ConsoleTokensOptions {
  /** How long a token stays usable, ms (default {@link CONSOLE_TOKEN_TTL_MS}). */
  readonly ttlMs?: number;
  /** The clock, ms (default `Date.now`; tests inject one). */
  readonly now?: () => number;
}

/**
 * One-time, short-lived, unguessable tokens (32 random bytes, base64url) that let a page open
 * the console WebSocket of one of its sessions. A token is consumed by its first use, whatever
 * the outcome, and is refused after its time or once the bridge connection that asked for it
 * ended. @internal
 */
export class ConsoleTokens {
  readonly #grants = new Map<string, ConsoleGrant & { readonly expires: number }>();
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(options: ConsoleTokensOptions = {}) {
    this.#ttlMs = options.ttlMs ?? CONSOLE_TOKEN_TTL_MS;
    this.#now = options.now ?? Date.now;
  }

  /** How long a token stays usable, ms. */
  get ttlMs(): number {
    return this.#ttlMs;
  }

  /** Issues a token for `grant`. */
  issue(grant: ConsoleGrant): string {
    this.#prune();
    while (this.#grants.size >= MAX_TOKENS) {
      const oldest = this.#grants.keys().next().value;
      if (oldest === undefined) break;
      this.#grants.delete(oldest);
    }
    const token = randomBytes(32).toString('base64url');
    this.#grants.set(token, { ...grant, expires: this.#now() + this.#ttlMs });
    return token;
  }

  /**
   * Consumes `token`: its grant when it was issued, has not expired, was not used and its
   * bridge connection is still open; else `undefined`. The token is gone either way.
   */
  consume(token: string | null): ConsoleGrant | undefined {
    if (token === null) return undefined;
    const grant = this.#grants.get(token);
    if (!grant) return undefined;
    this.#grants.delete(token);
    if (grant.expires <= this.#now() || grant.signal.aborted) return undefined;
    return grant;
  }

  /** Forgets every token (the service stops). */
  clear(): void {
    this.#grants.clear();
  }

  /** Forgets the tokens issued to `origin` (the person revoked its decision). */
  forget(origin: string): void {
    for (const [token, grant] of this.#grants) if (grant.origin === origin) this.#grants.delete(token);
  }

  #prune(): void {
    const now = this.#now();
    for (const [token, grant] of this.#grants) {
      if (grant.expires <= now || grant.signal.aborted) this.#grants.delete(token);
    }
  }
}
