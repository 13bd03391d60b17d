import { getDomain } from 'tldts';

/**
 * The site of an http(s) origin: its registrable domain by the Public Suffix
 * List, private suffixes included as browsers do (`https://a.b.example.org` →
 * `example.org`, `https://me.github.io` → `me.github.io`), or the host itself
 * for addresses and single-label names (`127.0.0.1`, `localhost`). Scheme and
 * port do not matter: every origin of one site shares the site's limits.
 */
export function siteOf(origin: string): string {
  const host = new URL(origin).hostname;
  return getDomain(host, { allowPrivateDomains: true }) ?? host;
}
