import type { Clock } from '../clock/clock.js';
import type { GuardedVm } from '../driver/guarded-driver.js';
import { type ApiWatchTiming, watchApi } from '../guest/api-watcher.js';

/** What a {@link SessionApiWatch} needs. @internal */
export interface SessionApiWatchOptions {
  readonly clock: Clock;
  readonly timing: ApiWatchTiming | undefined;
  /** The driver forwards the API port (capability `apiPortForwarding`). */
  readonly forwarding: boolean;
  readonly onAvailable: (ip: string, apiURL: string) => void;
  readonly onUnavailable: () => void;
}

/**
 * A session's watch of its VM's API while the VM runs: the address it answered on
 * (`ip`, `apiURL`, `''` while it does not answer) and the `apiAvailable` / `apiUnavailable` calls.
 * @internal
 */
export class SessionApiWatch {
  readonly #options: SessionApiWatchOptions;
  #controller: AbortController | undefined;
  #ip = '';
  #apiURL = '';

  constructor(options: SessionApiWatchOptions) {
    this.#options = options;
  }

  /** The guest's IP address once the API answered, else `''`. */
  get ip(): string {
    return this.#ip;
  }
  /** The URL of the VM's API from this host once it answered, else `''`. */
  get apiURL(): string {
    return this.#apiURL;
  }

  /** Watches `vm`'s API, unless already watching (or there is no VM or no forwarding). */
  start(vm: GuardedVm | undefined): void {
    if (this.#controller || !vm || !this.#options.forwarding) return;
    const controller = new AbortController();
    this.#controller = controller;
    void watchApi({
      ...this.#options.timing,
      endpoint: () => vm.apiEndpoint(),
      clock: this.#options.clock,
      signal: controller.signal,
      onAvailable: (ip, url) => {
        this.#ip = ip;
        this.#apiURL = url;
        this.#options.onAvailable(ip, url);
      },
      onUnavailable: () => {
        this.#ip = '';
        this.#apiURL = '';
        this.#options.onUnavailable();
      },
    });
  }

  /** Stops watching. */
  stop(): void {
    this.#controller?.abort();
    this.#controller = undefined;
  }
}
