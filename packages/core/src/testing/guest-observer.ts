import { type Clock, systemClock } from '../clock/clock.js';
import { waitUntil } from '../clock/wait-until.js';
import { isHypervisorError } from '../errors/hypervisor-error.js';
import { guestGet } from '../guest/guest-get.js';
import {
  GUEST_REPORT_PATH,
  GUEST_SPIN_PATH,
  type GuestReport,
  parseGuestReport,
} from '../guest/guest-report.js';
import type { Session } from '../session/session.js';
import { SILENT_PROBE_TIMEOUT_MS } from './guest-tolerances.js';

/**
 * Reads a session's guest through the cvmweb guest API ({@link GUEST_REPORT_PATH}). The API
 * address is the session's `apiURL` when it has one, else the last one seen (a paused or
 * stopped session forgets it, the suite still knocks there).
 */
export class GuestObserver {
  readonly #session: Session;
  /** How long, in real ms, the guest may take to come up (boot, reset, restore) or go away (stop). */
  readonly bootTimeoutMs: number;
  /** The clock windows are measured on (the mock's, when it runs on a virtual one). */
  readonly clock: Clock;
  #url = '';

  constructor(session: Session, options: { clock?: Clock; bootTimeoutMs: number }) {
    this.#session = session;
    this.clock = options.clock ?? systemClock;
    this.bootTimeoutMs = options.bootTimeoutMs;
  }

  /** The API address in use. */
  get url(): string {
    if (this.#session.apiURL) this.#url = this.#session.apiURL;
    return this.#url;
  }

  /** One report, or `undefined` when the guest does not answer one within `timeoutMs` (real time). */
  async report(
    timeoutMs = SILENT_PROBE_TIMEOUT_MS,
    options?: { signal?: AbortSignal },
  ): Promise<GuestReport | undefined> {
    const url = this.url;
    if (!url) return undefined;
    const answer = await guestGet(url, GUEST_REPORT_PATH, timeoutMs, options);
    return answer?.status === 200 ? parseGuestReport(answer.body) : undefined;
  }

  /**
   * Polls until the guest answers a report that `accept` takes (a boot, a reset or a restore
   * finished), for the boot time-out in real time; rejects saying what it last saw.
   */
  async next(
    what: string,
    accept: (report: GuestReport) => boolean = () => true,
    options?: { signal?: AbortSignal },
  ): Promise<GuestReport> {
    let last = 'no answer';
    // The time-out is real time even when the observation clock is virtual: a guest boots in real time.
    const realTime: Clock = { now: () => Date.now(), sleep: (ms, signal) => this.clock.sleep(ms, signal) };
    try {
      return await waitUntil(
        async (signal) => {
          const url = this.url;
          const answer = url
            ? await guestGet(url, GUEST_REPORT_PATH, SILENT_PROBE_TIMEOUT_MS, { signal })
            : undefined;
          if (!answer) return undefined;
          const report = answer.status === 200 ? parseGuestReport(answer.body) : undefined;
          if (report && accept(report)) return report;
          last = report
            ? `the report ${JSON.stringify(report)}`
            : `HTTP ${answer.status} ${JSON.stringify(answer.body.slice(0, 200))}`;
          return undefined;
        },
        {
          what,
          timeoutMs: this.bootTimeoutMs,
          clock: realTime,
          ...(options?.signal ? { signal: options.signal } : {}),
        },
      );
    } catch (error) {
      if (!isHypervisorError(error) || error.details['timedOut'] !== true) throw error;
      throw new Error(
        `guest observation: waiting for ${what} at ${this.url || '(no API URL yet)'}${GUEST_REPORT_PATH} for ${this.bootTimeoutMs} ms, last saw ${last}. ` +
          'Is the VM running the cvmweb test guest? If the driver boots another image, pass `guest: false` to the suite.',
        { cause: error },
      );
    }
  }

  /** True when nothing answers at the API address within {@link SILENT_PROBE_TIMEOUT_MS}. */
  async silent(options?: { signal?: AbortSignal }): Promise<boolean> {
    const url = this.url;
    if (!url) return true;
    return (await guestGet(url, GUEST_REPORT_PATH, SILENT_PROBE_TIMEOUT_MS, options)) === undefined;
  }

  /** Starts the guest's busy loop and waits until its work counter moves. */
  async spin(options?: { signal?: AbortSignal }): Promise<void> {
    const answer = await guestGet(this.url, GUEST_SPIN_PATH, SILENT_PROBE_TIMEOUT_MS, options);
    if (answer?.status !== 200)
      throw new Error(`guest observation: GET ${GUEST_SPIN_PATH} answered ${answer?.status ?? 'nothing'}`);
    await this.next('the busy loop to run', (report) => report.spin > 0, options);
  }

  /** The busy loop's work per ms of guest uptime, counted over `windowMs` on the observation clock. */
  async spinRate(windowMs: number, options?: { signal?: AbortSignal }): Promise<number> {
    const first = await this.next('a report', undefined, options);
    await this.clock.sleep(windowMs, options?.signal);
    const second = await this.next('a report', undefined, options);
    const elapsed = second.uptimeMs - first.uptimeMs;
    if (second.bootId !== first.bootId || elapsed <= 0) {
      throw new Error(
        `guest observation: the guest rebooted or its clock stood still while its CPU rate was measured`,
      );
    }
    return (second.spin - first.spin) / elapsed;
  }
}
