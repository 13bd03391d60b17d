/** The default address of the service. */
export const DEFAULT_SERVICE_URL = 'http://127.0.0.1:5624';

let scriptOrigin: string | undefined;
try {
  const script = (globalThis as { document?: { currentScript?: { src?: string } | null } }).document
    ?.currentScript;
  // Loaded from the service itself (`<script src="http://127.0.0.1:PORT/cvmweb.js">`): that service.
  if (script?.src && /\/cvmweb\.js(\?|$)/.test(script.src)) scriptOrigin = new URL(script.src).origin;
} catch {
  scriptOrigin = undefined;
}

/**
 * The service's base address: `url` without trailing slashes, else the
 * address `/cvmweb.js` was loaded from, else {@link DEFAULT_SERVICE_URL}.
 */
export function serviceBase(url?: string): string {
  return (url ?? scriptOrigin ?? DEFAULT_SERVICE_URL).replace(/\/+$/, '');
}

/** True when the page itself is on a loopback host, where no Local Network Access check applies. */
export function pageIsLoopback(): boolean {
  const host = (globalThis as { location?: { hostname?: string } }).location?.hostname;
  return (
    host === 'localhost' || host === '[::1]' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host ?? '')
  );
}
