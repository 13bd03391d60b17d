import { protocolMismatch } from './client-version.js';
import { type LoopbackPermission, loopbackPermission, secureContext } from './local-network-access.js';
import { pageIsLoopback, serviceBase } from './service-url.js';

/** What {@link status} found, without prompting the person. */
export interface CVMWebStatus {
  /** The page's Local Network Access permission for loopback (`unsupported` where the browser has none). */
  readonly permission: LoopbackPermission;
  /** False on a plain-`http` page, which browsers never let reach the service. */
  readonly secureContext: boolean;
  /**
   * `running` when the service answered, `absent` when nothing answers,
   * `unknown` when looking would make the browser ask the person (the
   * permission is not granted yet) or cannot work (not a secure context), or
   * something else answers there.
   */
  readonly service: 'running' | 'absent' | 'unknown';
  /** The service's version, when it answered. */
  readonly version?: string;
  /** The service's bridge protocol, when it answered; {@link CVMWebStatus.compatible} says whether this client speaks it. */
  readonly protocol?: number;
  /** Whether this client speaks the service's protocol, when it answered. */
  readonly compatible?: boolean;
}

/** Options of {@link status}. */
export interface StatusOptions {
  /** The service's address, as for `connect`. */
  url?: string;
  /** The fetch to use; default `globalThis.fetch`. */
  fetch?: typeof fetch;
}

/**
 * Tells a page, without ever making the browser prompt, whether it can use
 * cvmweb: the Local Network Access permission, whether the page is a secure
 * context, and — only when the permission is already granted (or the browser
 * has no such permission, or the page itself is on loopback) — whether the
 * service runs. A page shows its own "Enable local VMs" button while
 * `permission` is `prompt` and calls `connect()` from its click: `connect()` is
 * the only call that may make the browser ask.
 *
 * @example
 * ```js
 * const { permission, service } = await CVMWeb.status();
 * if (permission === 'granted' && service === 'running') start(await CVMWeb.connect());
 * else enableButton.onclick = async () => start(await CVMWeb.connect());
 * ```
 */
export async function status(options: StatusOptions = {}): Promise<CVMWebStatus> {
  const base = serviceBase(options.url);
  const secure = secureContext();
  const permission = await loopbackPermission();
  const fetcher = options.fetch ?? globalThis.fetch;
  const mayLook = secure && (permission === 'granted' || permission === 'unsupported' || pageIsLoopback());
  if (!mayLook || typeof fetcher !== 'function') {
    return { permission, secureContext: secure, service: 'unknown' };
  }
  try {
    const response = await fetcher(`${base}/info`, { mode: 'cors', credentials: 'omit' });
    if (!response.ok) return { permission, secureContext: secure, service: 'unknown' };
    const info = (await response.json()) as { service?: unknown; version?: unknown; protocol?: unknown };
    if (info.service !== 'cvmweb-bridge') return { permission, secureContext: secure, service: 'unknown' };
    return {
      permission,
      secureContext: secure,
      service: 'running',
      ...(typeof info.version === 'string' ? { version: info.version } : {}),
      ...(typeof info.protocol === 'number' ? { protocol: info.protocol } : {}),
      compatible: protocolMismatch(info.protocol, info.version) === undefined,
    };
  } catch {
    return { permission, secureContext: secure, service: 'absent' };
  }
}
