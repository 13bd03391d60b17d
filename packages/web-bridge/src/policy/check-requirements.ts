import { HypervisorError, type Requirements } from '@cvmweb/core';
import { forPages } from '../protocol/wire-error.js';
import type { ResourceLimits } from './bridge-policy.js';

/**
 * Refuses requirements above the local limits with `NOT_ALLOWED` (-10); the
 * message names the limit and `details` carries `{ field, limit, requested }`.
 */
export function checkRequirements(requirements: Requirements, limits: ResourceLimits): void {
  for (const field of ['cpus', 'ram', 'disk'] as const) {
    const requested = requirements[field];
    const limit = limits[field];
    if (requested > limit) {
      const unit = field === 'cpus' ? '' : ' MiB';
      throw forPages(
        new HypervisorError(
          'NOT_ALLOWED',
          `the local policy allows at most ${limit}${unit} ${field} per session (asked for ${requested}${unit})`,
          { details: { field, limit, requested } },
        ),
      );
    }
  }
}

/** Refuses another running session of an origin that holds `running` already, when the limit is reached. */
export function checkSessionCount(origin: string, running: number, limits: ResourceLimits): void {
  if (running >= limits.sessions) {
    throw forPages(
      new HypervisorError(
        'NOT_ALLOWED',
        `the local policy allows at most ${limits.sessions} open sessions for ${origin}`,
        { details: { field: 'sessions', limit: limits.sessions, origin } },
      ),
    );
  }
}

/** Refuses a new session name of an origin that owns `names` already, when the limit is reached. */
export function checkNameCount(origin: string, names: number, limits: ResourceLimits): void {
  if (names >= limits.names) {
    throw forPages(
      new HypervisorError(
        'NOT_ALLOWED',
        `the local policy allows at most ${limits.names} session names for ${origin}`,
        { details: { field: 'names', limit: limits.names, origin } },
      ),
    );
  }
}
