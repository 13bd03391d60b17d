/** One setter's request, shown by the session's getters until it settles. @internal */
export interface Request {
  /**
   * The setter settled (succeeded or failed): the request no longer shows. The getter then gives
   * the stored value, or a later request still in flight; `onChange` runs when that differs from
   * what it showed. Idempotent.
   */
  done(): void;
  /** Calls {@link Request.done} when `promise` settles, and passes its outcome on. */
  track<T>(promise: Promise<T>): Promise<T>;
}

interface Entry {
  readonly key: PropertyKey;
  readonly value: unknown;
}

/**
 * The values setters asked for and that are still on their way (the original plugin's
 * `sess.setExecutionCap(50); sess.executionCap // 50`): a getter shows the latest request for
 * its field at once, falls back to the stored value when the request settles, and so returns to
 * the previous value when the setter fails. `onChange` runs whenever what a getter shows changes
 * through a request (the session fires `changed`).
 * @internal
 */
export class RequestedValues<T extends object> {
  readonly #stored: () => T;
  readonly #onChange: () => void;
  #entries: Entry[] = [];

  /** `stored` reads the persisted values; `onChange` tells listeners that a shown value changed. */
  constructor(stored: () => T, onChange: () => void) {
    this.#stored = stored;
    this.#onChange = onChange;
  }

  /** What a getter shows for `key`: the latest request in flight, else the stored value. */
  read<K extends keyof T>(key: K): T[K] {
    for (let i = this.#entries.length - 1; i >= 0; i--) {
      const entry = this.#entries[i]!;
      if (entry.key === key) return entry.value as T[K];
    }
    return this.#stored()[key];
  }

  /** Shows `value` for `key` until the returned request is done. */
  request<K extends keyof T>(key: K, value: T[K]): Request {
    const entry: Entry = { key, value };
    this.#change(key, () => this.#entries.push(entry));
    const done = () =>
      this.#change(key, () => {
        this.#entries = this.#entries.filter((e) => e !== entry);
      });
    return {
      done,
      track: (promise) =>
        promise.then(
          (value) => {
            done();
            return value;
          },
          (error: unknown) => {
            done();
            throw error;
          },
        ),
    };
  }

  #change(key: keyof T, mutate: () => void): void {
    const before = JSON.stringify(this.read(key));
    mutate();
    if (JSON.stringify(this.read(key)) !== before) this.#onChange();
  }
}
