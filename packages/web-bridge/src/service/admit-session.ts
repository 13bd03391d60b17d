import { HypervisorError, type Session, validateSessionName } from '@cvmweb/core';
import { checkNameCount } from '../policy/check-requirements.js';
import { forPages } from '../protocol/wire-error.js';
import type { ConnectionContext } from './connection-context.js';

/** Options of {@link admitSession}. */
export interface AdmitSessionOptions {
  /** Called when the request waits for the person's consent. */
  onWaiting: () => void;
  /** Aborts the wait for consent (the page's connection closed). */
  signal: AbortSignal;
}

/**
 * Gets the session `name` of `origin` for a page: checks the name and key,
 * the policy's refusal, throttle and name count, asks the person when the
 * origin needs consent, throttles guessed keys, then lets core check the key
 * (`PASSWORD_DENIED` for a wrong one). @internal
 */
export async function admitSession(
  context: ConnectionContext,
  origin: string,
  name: string,
  key: string,
  options: AdmitSessionOptions,
): Promise<Session> {
  const { broker, cvmweb, policy, creating, keyAttempts } = context;
  validateSessionName(name);
  if (key.length === 0 || key.length > 256) {
    throw forPages(
      new HypervisorError('INVALID_USAGE', 'a secret key is a string of 1 to 256 characters', {
        details: { field: 'secretKey' },
      }),
    );
  }
  const own = context.isOwnOrigin(origin);
  if (!own) broker.assertNotRefused(origin);
  const exists = cvmweb.registry.find(origin, name) !== undefined;
  let release: (() => void) | undefined;
  try {
    if (!exists) {
      // Counted before the first await with the names other requests of the origin are
      // creating, so frames sent together cannot all pass the limit.
      const names = new Set(cvmweb.sessions(origin).map((r) => r.name));
      for (const other of creating.keys(origin)) names.add(other);
      names.delete(name);
      checkNameCount(origin, names.size, policy.policy.limits);
      release = creating.reserve(origin, name);
    }
    // Re-attaching a session the person approved earlier (reload, service restart) asks nobody,
    // unless the person denied the origin or revoked its decision since.
    if (!own && (!exists || broker.isWithdrawn(origin))) await broker.authorize(origin, name, options);
    if (exists) keyAttempts.attempt(origin, name);
    const session = await cvmweb.requestSession(name, key, { scope: origin });
    if (exists) keyAttempts.succeeded(origin, name);
    return session;
  } finally {
    release?.();
  }
}
