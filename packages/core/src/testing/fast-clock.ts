import type { Clock } from '../clock/clock.js';
import { abortedError } from '../errors/hypervisor-error.js';

/**
 * A virtual clock on which every sleep passes at once: `sleep(ms)` moves the time forward by
 * `ms` and resolves on the next turn of the event loop. Share one between the mock driver
 * (`mock({ clock })`) and the conformance suite's guest observation
 * (`guest: { clock }`), and the suite's measured windows (a paused guest, an execution cap)
 * take no real time. Concurrent sleeps each move the time, so it runs ahead of a real clock;
 * use `ManualClock` where the order of sleepers matters.
 */
export class FastClock implements Clock {
  #now: number;

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortedError('sleep', signal.reason));
      this.#now += Math.max(0, ms);
      setImmediate(resolve);
    });
  }
}
