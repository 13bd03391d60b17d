/**
 * Work in flight per origin that a resource limit must count before it
 * finishes: the session names being created and the sessions being opened.
 * Each {@link OriginReservations.reserve} is made before the request's first
 * await, so frames sent together cannot all pass a limit that counts only
 * finished work.
 */
export class OriginReservations {
  readonly #byOrigin = new Map<string, Map<string, number>>();

  /** Reserves `key` (a session name or id) for `origin`; returns the function that releases it (once). */
  reserve(origin: string, key: string): () => void {
    let keys = this.#byOrigin.get(origin);
    if (!keys) {
      keys = new Map();
      this.#byOrigin.set(origin, keys);
    }
    keys.set(key, (keys.get(key) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (keys.get(key) ?? 1) - 1;
      if (left > 0) keys.set(key, left);
      else keys.delete(key);
      if (keys.size === 0 && this.#byOrigin.get(origin) === keys) this.#byOrigin.delete(origin);
    };
  }

  /** The keys `origin` holds reservations for now. */
  keys(origin: string): string[] {
    return [...(this.#byOrigin.get(origin)?.keys() ?? [])];
  }
}
