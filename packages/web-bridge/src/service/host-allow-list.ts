/**
 * The `Host` header values the service answers: `127.0.0.1:PORT`,
 * `localhost:PORT` and `[::1]:PORT`. Anything else (a DNS-rebinding name such
 * as `attacker.example:PORT`) is refused with 403 before any other check.
 */
export function allowedHosts(port: number): ReadonlySet<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
}

/** True when `host` (a request's `Host` header) is in {@link allowedHosts} for `port`. */
export function isAllowedHost(host: string | undefined, port: number): boolean {
  return host !== undefined && allowedHosts(port).has(host.toLowerCase());
}

/** The service's own origins: the only ones whose consent decisions are accepted. */
export function ownOrigins(port: number): ReadonlySet<string> {
  return new Set([...allowedHosts(port)].map((host) => `http://${host}`));
}
