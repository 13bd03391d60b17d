import type { ConnectOptions } from './connect-options.js';
import { CVMWebBridge, openSocket } from './cvmweb-bridge.js';

/** The default address of the service. */
export const DEFAULT_SERVICE_URL = 'http://127.0.0.1:5624';

/**
 * Connects to the local cvmweb service and resolves with the plugin object
 * (seed: the `<embed>` element), once the service said hello.
 *
 * Rejects with `NOT_FOUND` (-9) when no service answers.
 *
 * @example
 * ```html
 * <script src="http://127.0.0.1:5624/cvmweb.js"></script>
 * <script>
 *   const bridge = await CVMWeb.connect({ onConsentRequired: (url) => showLink(url) });
 *   console.log(`${bridge.hypervisorName} ${bridge.hypervisorVersion}`);
 *   const session = await bridge.requestSession('my-session', 'my-secret');
 * </script>
 * ```
 */
export async function connect(options: ConnectOptions = {}): Promise<CVMWebBridge> {
  const base = (options.url ?? defaultUrl()).replace(/\/+$/, '');
  const fetcher = options.fetch === undefined ? globalThis.fetch : options.fetch;
  if (fetcher) {
    // Asks Chromium's Local Network Access permission up front; failures surface when the socket opens.
    await fetcher(`${base}/info`, {
      mode: 'cors',
      credentials: 'omit',
      targetAddressSpace: 'loopback',
    } as RequestInit).catch(() => undefined);
  }
  const { ws, hello } = await openSocket(options, base);
  return new CVMWebBridge(options, base, ws, hello);
}

let scriptOrigin: string | undefined;
try {
  const script = (globalThis as { document?: { currentScript?: { src?: string } | null } }).document
    ?.currentScript;
  if (script?.src && /\/cvmweb\.js(\?|$)/.test(script.src)) scriptOrigin = new URL(script.src).origin;
} catch {
  scriptOrigin = undefined;
}

function defaultUrl(): string {
  return scriptOrigin ?? DEFAULT_SERVICE_URL;
}
