import type { DisplayEndpoint } from '../driver/driver.js';
import type { GuardedVm } from '../driver/guarded-driver.js';

/**
 * A session's knowledge of its running VM's display (capability `display`): asked from the
 * driver once each time the VM starts running, forgotten when it stops. The endpoint (with the
 * password) stays here; the session shows only `rdpURL` and `displayURL`.
 * @internal
 */
export class SessionDisplay {
  readonly #enabled: boolean;
  readonly #onChange: () => void;
  readonly #onDebug: (message: string) => void;
  #endpoint: DisplayEndpoint | undefined;
  #asking: AbortController | undefined;

  /** `enabled`: the driver has the `display` capability; `onChange` fires when the endpoint is learnt or forgotten. */
  constructor(enabled: boolean, onChange: () => void, onDebug: (message: string) => void) {
    this.#enabled = enabled;
    this.#onChange = onChange;
    this.#onDebug = onDebug;
  }

  /** The endpoint known now, `undefined` when none. */
  get endpoint(): DisplayEndpoint | undefined {
    return this.#endpoint;
  }

  /** Asks `vm` for its display unless known or being asked. */
  follow(vm: GuardedVm | undefined): void {
    if (!this.#enabled || !vm || this.#endpoint || this.#asking) return;
    const asking = new AbortController();
    this.#asking = asking;
    vm.display({ signal: asking.signal }).then(
      (endpoint) => {
        if (asking.signal.aborted) return;
        this.#asking = undefined;
        this.#endpoint = endpoint;
        if (endpoint) this.#onChange();
      },
      (error: unknown) => {
        if (asking.signal.aborted) return;
        this.#asking = undefined;
        this.#onDebug(`display: ${error instanceof Error ? error.message : String(error)}`);
      },
    );
  }

  /** Forgets the endpoint (the VM stopped). */
  forget(): void {
    this.#asking?.abort();
    this.#asking = undefined;
    if (!this.#endpoint) return;
    this.#endpoint = undefined;
    this.#onChange();
  }
}

/** The original plugin's `rdpURL`: `host:port`, `''` without a display. @internal */
export function rdpURLOf(endpoint: DisplayEndpoint | undefined): string {
  return endpoint ? `${endpoint.host}:${endpoint.port}` : '';
}

/** `vnc://host:port` or `rdp://host:port`, `''` without a display. @internal */
export function displayURLOf(endpoint: DisplayEndpoint | undefined): string {
  return endpoint ? `${endpoint.protocol}://${endpoint.host}:${endpoint.port}` : '';
}
