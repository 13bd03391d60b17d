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
  /** The API has not answered for `ms` since the watch began (`timing.screenshotAfterMs`). */
  readonly onSilent: (ms: number) => void;
}

/** The default of `ApiWatchTiming.screenshotAfterMs`. */
const SILENT_SCREENSHOT_MS = 300_000;

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
    let answered = false;
    const silentMs = this.#options.timing?.screenshotAfterMs ?? SILENT_SCREENSHOT_MS;
    if (silentMs > 0) {
      this.#options.clock.sleep(silentMs, controller.signal).then(
        () => {
          if (!answered && !controller.signal.aborted) this.#options.onSilent(silentMs);
        },
        () => undefined,
      );
    }
    void watchApi({
      ...this.#options.timing,
      endpoint: () => vm.apiEndpoint(),
      clock: this.#options.clock,
      signal: controller.signal,
      onAvailable: (ip, url) => {
        answered = true;
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
