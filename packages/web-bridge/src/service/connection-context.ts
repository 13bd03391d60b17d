import type { Cvmweb } from '@cvmweb/core';
import type { ConsentBroker } from '../consent/consent-broker.js';
import type { PolicyStore } from '../policy/policy-store.js';
import type { ConsoleTokens } from './console-tokens.js';
import type { FrameLimits } from './frame-limits.js';
import type { KeyAttemptThrottle } from './key-attempt-throttle.js';
import type { OriginReservations } from './origin-reservations.js';
import type { TimelineFeed } from './timeline-feed.js';

/** What a connection needs from its service. @internal */
export interface ConnectionContext {
  readonly cvmweb: Cvmweb;
  readonly broker: ConsentBroker;
  readonly policy: PolicyStore;
  readonly limits: FrameLimits;
  readonly version: string;
  /** The consent page's address. */
  readonly consentUrl: string;
  /** True for the service's own origins (its test page): pre-approved. */
  readonly isOwnOrigin: (origin: string) => boolean;
  /** The daemon's timeline, when a daemon runs with the service. */
  readonly timeline?: TimelineFeed | undefined;
  /** Session names being created per origin (the `names` limit counts them), shared by the service's connections. */
  readonly creating: OriginReservations;
  /** Sessions being opened per origin (the `sessions` limit counts them), shared by the service's connections. */
  readonly opening: OriginReservations;
  /** Attempts at existing sessions' keys, shared by the service's connections. */
  readonly keyAttempts: KeyAttemptThrottle;
  /** The console tokens, shared by the service's connections and its console endpoint. */
  readonly consoleTokens: ConsoleTokens;
}
