import type { Clock } from '../clock/clock.js';
import type { ApiEndpoint } from '../driver/driver.js';
import { probeApi } from './probe-api.js';

/** Timing of the guest API watch behind the `apiAvailable` and `apiUnavailable` events. */
export interface ApiWatchTiming {
  /** Pause between looks while the API answers (default 2000 ms). */
  onlineIntervalMs?: number;
  /** First pause while it does not answer; doubles after each miss (default 250 ms). */
  offlineInitialMs?: number;
  /** Longest pause while it does not answer (default 5000 ms). */
  offlineMaxMs?: number;
  /** Time box of one look (default 2000 ms). */
  probeTimeoutMs?: number;
  /**
   * When the API has not answered this long after the VM began running, the session's `debug`
   * stream carries a screenshot of its screen, once per boot, where the driver has the
   * `screenshot` capability (default 300000 ms; 0: never).
   */
  screenshotAfterMs?: number;
}

/** Callbacks and context of {@link watchApi}. */
export interface ApiWatchOptions extends ApiWatchTiming {
  /** Where the API is now (it can move after a restore); `undefined` while unknown. */
  endpoint: () => ApiEndpoint | undefined;
  /** Fired on the edge to "answers". */
  onAvailable: (ip: string, apiURL: string) => void;
  /** Fired on the edge to "does not answer", and when the watch ends while available. */
  onUnavailable: () => void;
  /** Clock for the pauses. */
  clock: Clock;
  /** Ends the watch. */
  signal: AbortSignal;
}

/**
 * Watches a VM's forwarded API port and reports edges only: `onAvailable` when
 * it starts answering, `onUnavailable` when it stops (or when the watch ends
 * while it answered). While the API does not answer, looks back off from
 * `offlineInitialMs` to `offlineMaxMs`. Resolves when `signal` aborts.
 */
export async function watchApi(options: ApiWatchOptions): Promise<void> {
  const {
    onlineIntervalMs = 2000,
    offlineInitialMs = 250,
    offlineMaxMs = 5000,
    probeTimeoutMs = 2000,
    clock,
    signal,
  } = options;
  let available = false;
  let backoff = offlineInitialMs;
  try {
    while (!signal.aborted) {
      const endpoint = options.endpoint();
      const ok = endpoint
        ? await probeApi(endpoint.host, endpoint.port, { timeoutMs: probeTimeoutMs, signal })
        : false;
      if (signal.aborted) break;
      if (ok && endpoint && !available) {
        available = true;
        options.onAvailable(endpoint.guestIp ?? endpoint.host, apiUrl(endpoint));
      } else if (!ok && available) {
        available = false;
        options.onUnavailable();
      }
      if (ok) backoff = offlineInitialMs;
      const pause = ok ? onlineIntervalMs : backoff;
      if (!ok) backoff = Math.min(backoff * 2, offlineMaxMs);
      await clock.sleep(pause, signal).catch(() => undefined);
    }
  } finally {
    if (available) options.onUnavailable();
  }
}

/** The URL of an API endpoint as seen from this host. */
export function apiUrl(endpoint: ApiEndpoint): string {
  const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
  return `http://${host}:${endpoint.port}/`;
}
