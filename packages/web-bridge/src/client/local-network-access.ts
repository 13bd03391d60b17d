import { HypervisorError } from '@cvmweb/core/browser';

/**
 * The page's Local Network Access permission for loopback addresses, as the
 * browser's Permissions API reports it without asking the person:
 * `unsupported` where the browser knows no such permission (Firefox, Safari,
 * Chromium before 142, Node.js).
 */
export type LoopbackPermission = 'granted' | 'prompt' | 'denied' | 'unsupported';

/** The permission names Chromium uses for loopback, newest first (`loopback-network` since ~145). */
const permissionNames = ['loopback-network', 'local-network-access'] as const;

interface BrowserGlobals {
  isSecureContext?: boolean;
  navigator?: { permissions?: { query(descriptor: { name: string }): Promise<{ state: string }> } };
  document?: { featurePolicy?: { allowsFeature(feature: string): boolean } };
  top?: unknown;
  self?: unknown;
}

const browser = globalThis as BrowserGlobals;

/** Reads the loopback permission from the Permissions API; never prompts. */
export async function loopbackPermission(): Promise<LoopbackPermission> {
  const permissions = browser.navigator?.permissions;
  if (typeof permissions?.query !== 'function') return 'unsupported';
  for (const name of permissionNames) {
    try {
      const { state } = await permissions.query({ name });
      if (state === 'granted' || state === 'prompt' || state === 'denied') return state;
    } catch {
      // This browser does not know the name: try the next one.
    }
  }
  return 'unsupported';
}

/** False only in a browser page that is not a secure context (a plain-`http` site). */
export function secureContext(): boolean {
  return browser.isSecureContext !== false;
}

/**
 * True in a frame whose embedder did not delegate the permission (no
 * `allow="local-network-access; loopback-network"` on the `<iframe>`), where
 * the browser can tell (Chromium's `document.featurePolicy`).
 */
function frameNotDelegated(): boolean {
  const policy = browser.document?.featurePolicy;
  if (browser.top === browser.self || typeof policy?.allowsFeature !== 'function') return false;
  return !permissionNames.some((name) => {
    try {
      return policy.allowsFeature(name);
    } catch {
      return false;
    }
  });
}

/**
 * Why the service at `base` could not be reached, told apart from what the
 * browser says (secure context, permission, frame policy), so the page shows
 * the person the right remedy:
 * - not a secure context: `NOT_ALLOWED` (-10), `details.reason` `insecure-context`;
 * - Local Network Access refused or not delegated to the frame: `NOT_ALLOWED`
 *   (-10), `details.reason` `local-network-access`;
 * - otherwise no service answers: `NOT_FOUND` (-9), `details.reason` `unreachable`.
 */
export async function unreachableError(base: string, what: string): Promise<HypervisorError> {
  if (!secureContext()) {
    return new HypervisorError(
      'NOT_ALLOWED',
      'this page is not a secure context: browsers let only https pages reach the cvmweb service on this computer; the site must be served over https',
      { details: { reason: 'insecure-context' } },
    );
  }
  const permission = await loopbackPermission();
  if (permission === 'denied') {
    const framed = frameNotDelegated();
    return new HypervisorError(
      'NOT_ALLOWED',
      framed
        ? 'this frame may not reach the cvmweb service: the page embedding it must allow it with <iframe allow="local-network-access; loopback-network">'
        : 'the browser blocked this site from reaching the cvmweb service on this computer (local network access); allow it with the icon at the left of the address bar (site settings → local network access), then try again',
      {
        details: {
          reason: 'local-network-access',
          permission,
          ...(framed ? { frame: 'not-delegated' } : {}),
        },
      },
    );
  }
  return new HypervisorError('NOT_FOUND', `no cvmweb service answers at ${base} (${what})`, {
    details: { reason: 'unreachable', permission },
  });
}
