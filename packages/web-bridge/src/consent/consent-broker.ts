import { randomBytes } from 'node:crypto';
import { HypervisorError } from '@cvmweb/core';
import type { PolicyStore } from '../policy/policy-store.js';
import { siteOf } from '../policy/site-of.js';
import { forPages } from '../protocol/wire-error.js';
import type { ConsentDecision } from './consent-decision.js';
import { DenialThrottle } from './denial-throttle.js';

/** A request waiting for the person's decision. */
export interface ConsentRequest {
  /** The origin asking to run virtual machines. */
  readonly origin: string;
  /** The session names it asked for while waiting. */
  readonly names: readonly string[];
  /** The one-time token that decides it (only the service's own consent page and terminal see it). */
  readonly token: string;
  /** When it was made (ms since the epoch). */
  readonly createdAt: number;
}

/**
 * Asks the person through a channel the page cannot reach (the terminal);
 * resolves with the decision, or `undefined` when it cannot ask. `signal`
 * fires when the request was decided elsewhere or timed out.
 */
export type ConsentPrompter = (
  request: ConsentRequest,
  signal: AbortSignal,
) => Promise<ConsentDecision | undefined>;

/** Options of {@link ConsentBroker}. */
export interface ConsentBrokerOptions {
  /** The policy: remembered decisions and the cool-down. */
  policy: PolicyStore;
  /** How long a request waits for a decision before it is refused. Default 5 minutes. */
  timeoutMs?: number;
  /** A terminal prompt, when the service runs in one. */
  prompter?: ConsentPrompter;
  /** Told about each new request (the service prints the consent page's address). */
  onRequest?: (request: ConsentRequest) => void;
  /** Told about each decision. */
  onDecision?: (origin: string, decision: ConsentDecision) => void;
  /** Told when the person revokes an origin's decision (the service closes its consoles). */
  onRevoke?: (origin: string) => void;
  /** Current time; default `Date.now`. */
  now?: () => number;
  /**
   * Most origins waiting at once, default 32. When they are all waiting, a
   * site with none waiting still gets through: the newest request of the
   * site with the most waiting is refused (`busy`) to make room.
   */
  maxPending?: number;
  /**
   * Most origins of one site (registrable domain by the Public Suffix List) waiting
   * at once, default 3; more are refused (`busy`). So no site's subdomains can
   * crowd out another site's request.
   */
  maxPendingPerSite?: number;
}

/** Options of {@link ConsentBroker.authorize}. */
export interface AuthorizeOptions {
  /** Called once the request waits for the person (the page is told the consent page's address). */
  onWaiting?: () => void;
  /**
   * The page went away (its connection closed): its wait ends with
   * `CONTROL` (-3), `aborted`, and a request no page waits for any more is
   * withdrawn from the consent page.
   */
  signal?: AbortSignal;
}

interface Pending {
  request: { origin: string; names: string[]; token: string; createdAt: number };
  site: string;
  waiters: { resolve: () => void; reject: (error: HypervisorError) => void }[];
  timer: NodeJS.Timeout;
  abort: AbortController;
}

/**
 * Decides whether an origin may create sessions: the policy's remembered
 * decision, the denial throttle, an approval given while the service runs,
 * or else the person's answer on the consent page or the terminal. Requests
 * of one origin made while it waits share one decision.
 */
export class ConsentBroker {
  readonly #options: ConsentBrokerOptions;
  readonly #throttle = new DenialThrottle();
  readonly #approved = new Set<string>();
  /** Origins the person denied or whose decision was revoked in this run, until allowed again. */
  readonly #withdrawn = new Set<string>();
  readonly #pending = new Map<string, Pending>();
  readonly #now: () => number;

  constructor(options: ConsentBrokerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** The requests waiting now, oldest first. */
  pending(): ConsentRequest[] {
    return [...this.#pending.values()].map((p) => ({ ...p.request, names: [...p.request.names] }));
  }

  /** Milliseconds the origin stays blocked by the denial throttle, or 0. */
  blockedFor(origin: string): number {
    return this.#throttle.blockedFor(origin, this.#now());
  }

  /**
   * Refuses at once, without asking, when the policy denies `origin` or the
   * throttle blocks it: `NOT_ALLOWED` (-10) with `details.reason` `policy` or
   * `throttled` (and `retryAfterMs`).
   */
  assertNotRefused(origin: string): void {
    if (this.#options.policy.decision(origin) === 'deny') {
      throw forPages(
        new HypervisorError('NOT_ALLOWED', `${origin} is denied by the local policy`, {
          details: { reason: 'policy', origin },
        }),
      );
    }
    const blocked = this.blockedFor(origin);
    if (blocked > 0) {
      const window = this.#options.policy.policy.denialWindowSeconds;
      throw forPages(
        new HypervisorError(
          'NOT_ALLOWED',
          `${origin} was denied twice within ${window} seconds; its requests are refused for ${Math.ceil(blocked / 1000)} more seconds`,
          { details: { reason: 'throttled', origin, retryAfterMs: blocked } },
        ),
      );
    }
  }

  /**
   * True when the person denied `origin` or revoked its decision while the
   * service runs, and has not allowed it again: its existing sessions are
   * not re-attached without asking, and their actions are refused.
   */
  isWithdrawn(origin: string): boolean {
    return this.#withdrawn.has(origin) && !this.isApproved(origin);
  }

  /**
   * Refuses the actions on sessions an origin holds when the policy denies it,
   * the throttle blocks it, or the person denied or revoked it since it got
   * them: `NOT_ALLOWED` (-10) with `details.reason` `policy`, `throttled` or `revoked`.
   */
  assertMayAct(origin: string): void {
    this.assertNotRefused(origin);
    if (this.isWithdrawn(origin)) {
      throw forPages(
        new HypervisorError(
          'NOT_ALLOWED',
          `${origin} is not allowed any more; request the session again to ask the person`,
          { details: { reason: 'revoked', origin } },
        ),
      );
    }
  }

  /** True when `origin` may create sessions without asking (policy `allow`, or approved while the service runs). */
  isApproved(origin: string): boolean {
    return this.#approved.has(origin) || this.#options.policy.decision(origin) === 'allow';
  }

  /**
   * Resolves when `origin` may create the session `name`; asks the person when
   * needed (calling `onWaiting` first). Rejects with `NOT_ALLOWED` when refused,
   * denied, not decided in time, or when too many requests of its site (or of
   * all sites) wait (`busy`); with `CONTROL` when `signal` aborts.
   */
  async authorize(origin: string, name: string, options: AuthorizeOptions = {}): Promise<void> {
    const { signal } = options;
    this.assertNotRefused(origin);
    if (this.isApproved(origin)) return;
    if (signal?.aborted) throw aborted();
    let pending = this.#pending.get(origin);
    if (!pending) {
      this.#makeRoom(origin);
      pending = this.#open(origin, name);
    } else if (!pending.request.names.includes(name) && pending.request.names.length < 16) {
      pending.request.names.push(name);
    }
    const waiting = pending;
    const decided = new Promise<void>((resolve, reject) => {
      const waiter = { resolve, reject };
      waiting.waiters.push(waiter);
      signal?.addEventListener(
        'abort',
        () => {
          const index = waiting.waiters.indexOf(waiter);
          if (index < 0) return;
          waiting.waiters.splice(index, 1);
          reject(aborted());
          // Nobody waits for this request any more: the person is not asked about it.
          if (waiting.waiters.length === 0 && this.#pending.get(origin) === waiting) this.#settle(origin);
        },
        { once: true },
      );
    });
    options.onWaiting?.();
    return decided;
  }

  /** Refuses a new request of `origin` when its site has its share waiting; evicts another site's newest when all are full. */
  #makeRoom(origin: string): void {
    const site = siteOf(origin);
    const bySite = new Map<string, Pending[]>();
    for (const entry of this.#pending.values())
      bySite.set(entry.site, [...(bySite.get(entry.site) ?? []), entry]);
    const perSite = this.#options.maxPendingPerSite ?? 3;
    const own = bySite.get(site)?.length ?? 0;
    if (own >= perSite)
      throw busy(`at most ${perSite} consent requests of ${site} may wait at once`, perSite);
    const max = this.#options.maxPending ?? 32;
    if (this.#pending.size < max) return;
    const crowded = [...bySite.values()].sort((a, b) => b.length - a.length)[0];
    if (own > 0 || !crowded || crowded.length < 2) {
      throw busy('too many consent requests are waiting', max);
    }
    const victim = crowded[crowded.length - 1]!;
    this.#settle(victim.request.origin);
    const error = busy('too many consent requests are waiting', max);
    for (const waiter of victim.waiters) waiter.reject(error);
  }

  /**
   * Applies the person's decision to the request holding `token` (used once).
   * Returns false for an unknown or spent token.
   */
  async decide(token: string, decision: ConsentDecision): Promise<boolean> {
    const entry = [...this.#pending.values()].find((p) => p.request.token === token);
    if (!entry || typeof token !== 'string' || token.length === 0) return false;
    const { origin } = entry.request;
    this.#settle(origin);
    const { policy } = this.#options;
    if (decision === 'allow-always') await policy.remember(origin, 'allow').catch(() => undefined);
    if (decision === 'deny-always') await policy.remember(origin, 'deny').catch(() => undefined);
    if (decision === 'allow-once' || decision === 'allow-always') {
      this.#approved.add(origin);
      this.#withdrawn.delete(origin);
      this.#throttle.clear(origin);
      for (const waiter of entry.waiters) waiter.resolve();
    } else {
      this.#approved.delete(origin);
      this.#withdrawn.add(origin);
      const { denialCooldownSeconds, denialWindowSeconds } = policy.policy;
      const blocked = this.#throttle.recordDenial(
        origin,
        this.#now(),
        denialCooldownSeconds * 1000,
        denialWindowSeconds * 1000,
      );
      const error = forPages(
        new HypervisorError('NOT_ALLOWED', `the person denied ${origin}`, {
          details: { reason: 'denied', origin, throttled: blocked },
        }),
      );
      for (const waiter of entry.waiters) waiter.reject(error);
    }
    this.#options.onDecision?.(origin, decision);
    return true;
  }

  /**
   * Forgets every decision about `origin` (remembered and for this run): it
   * will be asked again, also to re-attach the sessions it has, whose actions
   * are refused meanwhile (see {@link ConsentBroker.isWithdrawn}).
   *
   * @throws `HypervisorError` `IO` when the policy file cannot be written (the revocation holds for this run).
   */
  async revoke(origin: string): Promise<void> {
    this.#approved.delete(origin);
    this.#withdrawn.add(origin);
    this.#throttle.clear(origin);
    this.#options.onRevoke?.(origin);
    await this.#options.policy.revoke(origin);
  }

  /** Refuses every waiting request (the service stops). */
  close(): void {
    for (const origin of [...this.#pending.keys()]) {
      const entry = this.#settle(origin);
      const error = forPages(
        new HypervisorError('NOT_ALLOWED', 'the service is stopping', {
          details: { reason: 'stopping' },
        }),
      );
      for (const waiter of entry?.waiters ?? []) waiter.reject(error);
    }
  }

  #open(origin: string, name: string): Pending {
    const timeoutMs = this.#options.timeoutMs ?? 5 * 60_000;
    const abort = new AbortController();
    const pending: Pending = {
      // The first name is in the request before anyone is told about it.
      request: {
        origin,
        names: [name],
        token: randomBytes(24).toString('base64url'),
        createdAt: this.#now(),
      },
      site: siteOf(origin),
      waiters: [],
      abort,
      timer: setTimeout(() => {
        const entry = this.#settle(origin);
        const error = forPages(
          new HypervisorError('NOT_ALLOWED', `nobody approved ${origin} in time`, {
            details: { reason: 'timeout', origin },
          }),
        );
        for (const waiter of entry?.waiters ?? []) waiter.reject(error);
      }, timeoutMs),
    };
    pending.timer.unref();
    this.#pending.set(origin, pending);
    this.#options.onRequest?.(pending.request);
    const { prompter } = this.#options;
    if (prompter) {
      void prompter(pending.request, abort.signal)
        .then((decision) => (decision ? this.decide(pending.request.token, decision) : false))
        .catch(() => undefined);
    }
    return pending;
  }

  #settle(origin: string): Pending | undefined {
    const entry = this.#pending.get(origin);
    if (!entry) return undefined;
    this.#pending.delete(origin);
    clearTimeout(entry.timer);
    entry.abort.abort();
    return entry;
  }
}

function busy(message: string, limit: number): HypervisorError {
  return forPages(new HypervisorError('NOT_ALLOWED', message, { details: { reason: 'busy', limit } }));
}

function aborted(): HypervisorError {
  return new HypervisorError('CONTROL', 'the page stopped waiting for consent', {
    details: { aborted: true },
  });
}
