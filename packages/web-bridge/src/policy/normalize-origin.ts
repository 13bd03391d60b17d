/**
 * The canonical form of a web origin (`scheme://host[:port]`, lower case,
 * default port dropped), or `undefined` when `value` is not an http(s) origin
 * (`null`, `file://`, a URL with a path, …). Sessions are scoped by this form.
 */
export function normalizeOrigin(value: string | undefined): string | undefined {
  if (!value || value.length > 300) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.username || url.password || url.search || url.hash) return undefined;
  if (url.pathname !== '/' || value.endsWith('/')) return undefined;
  return url.origin;
}
