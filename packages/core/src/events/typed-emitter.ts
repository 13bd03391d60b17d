/**
 * An event map: event name → tuple of listener arguments. Maps are interfaces
 * without an index signature, so a misspelt event name does not compile.
 */
export type EventMap<E> = { [K in keyof E]: unknown[] };

/** A listener of event `K` of map `E`. */
export type Listener<E extends EventMap<E>, K extends keyof E> = (...args: E[K]) => void;

/**
 * A small typed event emitter. Unlike Node's `EventEmitter` it never throws
 * when an `error` event has no listener (the original plugin's `error` event is an
 * ordinary event), and a listener that throws is reported through
 * `onListenerError` instead of breaking the emitter.
 */
export class TypedEmitter<E extends EventMap<E>> {
  readonly #listeners = new Map<keyof E, Set<Listener<E, keyof E>>>();

  /** Adds `listener` for `event`. Returns a function that removes it. */
  on<K extends keyof E>(event: K, listener: Listener<E, K>): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as Listener<E, keyof E>);
    return () => this.off(event, listener);
  }

  /** Adds a listener that runs at most once. */
  once<K extends keyof E>(event: K, listener: Listener<E, K>): () => void {
    const off = this.on(event, ((...args: E[K]) => {
      off();
      listener(...args);
    }) as Listener<E, K>);
    return off;
  }

  /** Removes `listener` from `event`. */
  off<K extends keyof E>(event: K, listener: Listener<E, K>): void {
    const set = this.#listeners.get(event);
    set?.delete(listener as Listener<E, keyof E>);
    if (set?.size === 0) this.#listeners.delete(event);
  }

  /** The original plugin's name for {@link TypedEmitter.on}. */
  addEventListener<K extends keyof E>(event: K, listener: Listener<E, K>): void {
    this.on(event, listener);
  }

  /** The original plugin's counterpart of {@link TypedEmitter.addEventListener}. */
  removeEventListener<K extends keyof E>(event: K, listener: Listener<E, K>): void {
    this.off(event, listener);
  }

  /** Number of listeners of `event`. */
  listenerCount(event: keyof E): number {
    return this.#listeners.get(event)?.size ?? 0;
  }

  /** Calls every listener of `event` with `args`, in the order they were added. */
  protected emit<K extends keyof E>(event: K, ...args: E[K]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(...args);
      } catch (error) {
        this.onListenerError(error, String(event));
      }
    }
  }

  /** Called when a listener throws. The default rethrows asynchronously, so the failure is not lost. */
  protected onListenerError(error: unknown, _event: string): void {
    queueMicrotask(() => {
      throw error;
    });
  }
}
