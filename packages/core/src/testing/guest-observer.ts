import { request } from 'node:http';
import { type Clock, systemClock } from '../clock/clock.js';
import {
  GUEST_REPORT_PATH,
  GUEST_SPIN_PATH,
  type GuestReport,
  parseGuestReport,
} from '../guest/guest-report.js';
import type { Session } from '../session/session.js';
import { SILENT_PROBE_TIMEOUT_MS } from './guest-tolerances.js';

/** What one request to the guest got: an answer, or nothing (refused, reset, timed out). */
export type GuestAnswer = { status: number; body: string } | undefined;

/** One HTTP GET on a fresh connection; `undefined` when nothing answered within `timeoutMs` (real time). */
export function guestGet(url: string, path: string, timeoutMs: number): Promise<GuestAnswer> {
  return new Promise((resolve) => {
    const target = new URL(path, url);
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'GET',
        agent: false,
        headers: { connection: 'close' },
        timeout: timeoutMs,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', () => resolve(undefined));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

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

  /** One report, or `undefined` when the guest does not answer one now. */
  async report(timeoutMs = SILENT_PROBE_TIMEOUT_MS): Promise<GuestReport | undefined> {
    const url = this.url;
    if (!url) return undefined;
    const answer = await guestGet(url, GUEST_REPORT_PATH, timeoutMs);
    return answer?.status === 200 ? parseGuestReport(answer.body) : undefined;
  }

  /**
   * Polls until the guest answers a report that `accept` takes (a boot, a reset or a restore
   * finished), for the boot time-out in real time; rejects saying what it last saw.
   */
  async next(what: string, accept: (report: GuestReport) => boolean = () => true): Promise<GuestReport> {
    const deadline = Date.now() + this.bootTimeoutMs;
    let last = 'no answer';
    for (;;) {
      const url = this.url;
      const answer = url ? await guestGet(url, GUEST_REPORT_PATH, SILENT_PROBE_TIMEOUT_MS) : undefined;
      if (answer) {
        const report = answer.status === 200 ? parseGuestReport(answer.body) : undefined;
        if (report && accept(report)) return report;
        last = report
          ? `the report ${JSON.stringify(report)}`
          : `HTTP ${answer.status} ${JSON.stringify(answer.body.slice(0, 200))}`;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `guest observation: waiting for ${what} at ${url || '(no API URL yet)'}${GUEST_REPORT_PATH} for ${this.bootTimeoutMs} ms, last saw ${last}. ` +
            'Is the VM running the cvmweb test guest? If the driver boots another image, pass `guest: false` to the suite.',
        );
      }
      await this.clock.sleep(100);
    }
  }

  /** True when nothing answers at the API address within {@link SILENT_PROBE_TIMEOUT_MS}. */
  async silent(): Promise<boolean> {
    const url = this.url;
    if (!url) return true;
    return (await guestGet(url, GUEST_REPORT_PATH, SILENT_PROBE_TIMEOUT_MS)) === undefined;
  }

  /** Starts the guest's busy loop and waits until its work counter moves. */
  async spin(): Promise<void> {
    const answer = await guestGet(this.url, GUEST_SPIN_PATH, SILENT_PROBE_TIMEOUT_MS);
    if (answer?.status !== 200)
      throw new Error(`guest observation: GET ${GUEST_SPIN_PATH} answered ${answer?.status ?? 'nothing'}`);
    await this.next('the busy loop to run', (report) => report.spin > 0);
  }

  /** The busy loop's work per ms of guest uptime, counted over `windowMs` on the observation clock. */
  async spinRate(windowMs: number): Promise<number> {
    const first = await this.next('a report');
    await this.clock.sleep(windowMs);
    const second = await this.next('a report');
    const elapsed = second.uptimeMs - first.uptimeMs;
    if (second.bootId !== first.bootId || elapsed <= 0) {
      throw new Error(
        `guest observation: the guest rebooted or its clock stood still while its CPU rate was measured`,
      );
    }
    return (second.spin - first.spin) / elapsed;
  }
}
