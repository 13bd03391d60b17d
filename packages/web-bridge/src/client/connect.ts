import { HypervisorError } from '@cvmweb/core/browser';
import { protocolMismatch } from './client-version.js';
import type { ConnectOptions } from './connect-options.js';
import { CVMWebBridge } from './cvmweb-bridge.js';
import { unreachableError } from './local-network-access.js';
import { openSocket } from './open-socket.js';
import { serviceBase } from './service-url.js';

export { DEFAULT_SERVICE_URL } from './service-url.js';

/**
 * Connects to the local cvmweb service and resolves with the plugin object
 * (original plugin: the `<embed>` element), once the service said hello.
 *
 * In Chromium this is the call that may make the browser ask the person for
 * Local Network Access: call it from a user gesture (a click on the page's
 * own "Enable local VMs" button), after {@link status} said the permission
 * is not granted yet. It rejects, as soon as the browser answered, with:
 * - `NOT_ALLOWED` (-10), `details.reason` `local-network-access`: the browser
 *   (or the person) blocked the site, or the page is a frame its embedder did
 *   not delegate the permission to (`details.frame` `not-delegated`);
 * - `NOT_ALLOWED` (-10), `details.reason` `insecure-context`: a plain-`http` page;
 * - `NOT_ALLOWED` (-10), `details.reason` `policy`: the person's policy denies this site;
 * - `NOT_FOUND` (-9), `details.reason` `unreachable`: no service answers;
 * - `NOT_SUPPORTED` (-11), `details.reason` `protocol`: the service speaks
 *   another protocol version (the message names both versions).
 *
 * @example
 * ```html
 * <script src="/js/cvmweb.global.js"></script>  <!-- hosted by the site itself -->
 * <button id="enable">Enable local VMs</button>
 * <script>
 *   enable.onclick = async () => {
 *     const bridge = await CVMWeb.connect({ onConsentRequired: (url) => showLink(url) });
 *     const session = await bridge.requestSession('my-session', 'my-secret');
 *   };
 * </script>
 * ```
 */
export async function connect(options: ConnectOptions = {}): Promise<CVMWebBridge> {
  const base = serviceBase(options.url);
  const fetcher = options.fetch === undefined ? globalThis.fetch : options.fetch;
  if (fetcher) {
    // The request Chromium asks Local Network Access for; its failure is told apart right away.
    let info: { protocol?: unknown; version?: unknown };
    try {
      const response = await fetcher(`${base}/info`, {
        mode: 'cors',
        credentials: 'omit',
        targetAddressSpace: 'loopback',
      } as RequestInit);
      if (response.status === 403) throw forbidden(base);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      info = (await response.json()) as typeof info;
    } catch (error) {
      if (error instanceof HypervisorError) throw error;
      throw await unreachableError(base, error instanceof Error ? error.message : String(error));
    }
    const mismatch = protocolMismatch(info.protocol, info.version);
    if (mismatch) throw mismatch;
  }
  const { ws, hello } = await openSocket(options, base);
  const mismatch = protocolMismatch(hello.v, hello.version);
  if (mismatch) {
    ws.close(1000, 'protocol mismatch');
    throw mismatch;
  }
  return CVMWebBridge.create(options, base, ws, hello);
}

function forbidden(base: string): HypervisorError {
  return new HypervisorError(
    'NOT_ALLOWED',
    `the cvmweb service at ${base} refuses this site: the person denied it`,
    { details: { reason: 'policy' } },
  );
}
