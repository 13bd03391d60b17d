import type { SessionStateValue } from '../state/session-state.js';

/** The system as the idle-aware daemon sees it: the user is `idle`, `active`, or it cannot tell. */
export type DaemonSystemState = 'idle' | 'active' | 'unknown';

/**
 * One point of the idle-aware daemon's timeline: what `@cvmweb/daemon` records and what the web
 * bridge hands a page (filtered per origin there: `idleSeconds`, `reason` and `error` reach only
 * privileged origins; see the bridge's docs/protocol.md). `at` is ms since the epoch on the
 * daemon's clock.
 */
export type DaemonTimelineEntry =
  | {
      /** When it happened, ms since the epoch on the daemon's clock. */
      readonly at: number;
      /** The user's activity changed. */
      readonly kind: 'system';
      /** Active or idle, as the daemon decided. */
      readonly state: DaemonSystemState;
      /** Idle seconds when known. */
      readonly idleSeconds?: number;
      /** Why it is unknown. */
      readonly reason?: string;
    }
  | {
      /** When it happened, ms since the epoch on the daemon's clock. */
      readonly at: number;
      /** A controlled session changed. */
      readonly kind: 'session';
      /** The session's id. */
      readonly sessionId: string;
      /** The session's name. */
      readonly name: string;
      /** The session's state. */
      readonly state: SessionStateValue;
      /** True when its VM is saved to disk. */
      readonly hibernated: boolean;
      /** Its execution cap, in percent. */
      readonly executionCap: number;
    }
  | {
      /** When it happened, ms since the epoch on the daemon's clock. */
      readonly at: number;
      /** The daemon ran an action on a session. */
      readonly kind: 'action';
      /** The session's id. */
      readonly sessionId: string;
      /** The session's name. */
      readonly name: string;
      /** `pause`, `resume`, `hibernate`, `start` or `setExecutionCap`. */
      readonly action: string;
      /** The cap set, for `setExecutionCap`. */
      readonly cap?: number;
      /** Whether the action succeeded. */
      readonly ok: boolean;
      /** The error's message when it failed. */
      readonly error?: string;
    }
  | {
      /** When it happened, ms since the epoch on the daemon's clock. */
      readonly at: number;
      /** The daemon started or stopped. */
      readonly kind: 'daemon';
      /** True when it started. */
      readonly running: boolean;
    };
