import type { TimelineEntry } from '../protocol/server-frame.js';

/**
 * Where the service reads the daemon's timeline for the `timeline` request:
 * an `IdleDaemon` of `@cvmweb/daemon` fits (`timeline(since)` and its
 * `timeline` event). Without one the request answers `NOT_IMPLEMENTED` (-100).
 */
export interface TimelineFeed {
  /** Entries at or after `since` (ms since the epoch), oldest first. */
  timeline(since?: number): readonly TimelineEntry[];
  /** Calls `listener` with each new entry; returns the function that stops it. */
  on(event: 'timeline', listener: (entry: TimelineEntry) => void): () => void;
}

/** The most entries one `timeline` answer carries (the newest are kept). */
export const MAX_TIMELINE_ENTRIES = 2000;

/**
 * The entry as a connection may see it, or `undefined` when it may not. The
 * caller has checked that the origin may read the timeline at all (privileged,
 * or approved by the person). Privileged origins see everything; the others
 * see system entries as idle/active only (no `idleSeconds`, no `reason`),
 * daemon entries, and the session and action entries of the sessions their
 * connection requested, without the action's `error` text. Only known fields
 * are copied.
 */
export function visibleEntry(
  entry: TimelineEntry,
  privileged: boolean,
  ownsSession: (sessionId: string) => boolean,
): TimelineEntry | undefined {
  switch (entry.kind) {
    case 'system':
      return {
        at: entry.at,
        kind: 'system',
        state: entry.state,
        ...(privileged && entry.idleSeconds !== undefined ? { idleSeconds: entry.idleSeconds } : {}),
        ...(privileged && entry.reason !== undefined ? { reason: entry.reason } : {}),
      };
    case 'daemon':
      return { at: entry.at, kind: 'daemon', running: entry.running };
    case 'session':
      if (!privileged && !ownsSession(entry.sessionId)) return undefined;
      return {
        at: entry.at,
        kind: 'session',
        sessionId: entry.sessionId,
        name: entry.name,
        state: entry.state,
        hibernated: entry.hibernated,
        executionCap: entry.executionCap,
      };
    case 'action':
      if (!privileged && !ownsSession(entry.sessionId)) return undefined;
      return {
        at: entry.at,
        kind: 'action',
        sessionId: entry.sessionId,
        name: entry.name,
        action: entry.action,
        ...(entry.cap !== undefined ? { cap: entry.cap } : {}),
        ok: entry.ok,
        ...(privileged && entry.error !== undefined ? { error: entry.error } : {}),
      };
    default:
      return undefined;
  }
}
