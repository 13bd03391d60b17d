/** A listener of a client object's events. */
export type ClientListener<A extends unknown[]> = (...args: A) => void;

/** The small event emitter behind the client objects' `addEventListener`. */
export class ClientEmitter<E extends { [K in keyof E]: unknown[] }> {
  readonly #listeners = new Map<keyof E, Set<(...args: never[]) => void>>();

  /** Calls `listener` with the event's arguments each time `event` fires. */
  addEventListener<K extends keyof E>(event: K, listener: ClientListener<E[K]>): void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as unknown as (...args: never[]) => void);
  }

  /** Stops calling `listener` for `event`. */
  removeEventListener<K extends keyof E>(event: K, listener: ClientListener<E[K]>): void {
    this.#listeners.get(event)?.delete(listener as unknown as (...args: never[]) => void);
  }

  /** Calls the listeners of `event`; a throwing listener does not stop the others. */
  protected fire<K extends keyof E>(event: K, ...args: E[K]): void {
    for (const listener of [...(this.#listeners.get(event) ?? [])]) {
      try {
        (listener as unknown as (...a: E[K]) => void)(...args);
      } catch (error) {
        setTimeout(() => {
          throw error;
        }, 0);
      }
    }
  }
}
