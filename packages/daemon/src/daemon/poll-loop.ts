import type { Clock } from '@cvmweb/core';

/** Options of {@link PollLoop}. */
export interface PollLoopOptions {
  clock: Clock;
  /** One pass; resolves with the delay before the next one, ms. `stop` fires when the loop stops. */
  tick(stop: AbortSignal): Promise<number>;
  /** A pass failed (not because the loop stopped): told why; returns the delay before the next one, ms. */
  onError(error: unknown): number;
}

/**
 * Runs passes one after the other, each followed by the sleep it asked for on the clock,
 * until stopped; {@link PollLoop.wakeUp} cuts the current sleep short. Each sleep has its own
 * signal, wired to the stop signal by one listener that is removed when the sleep ends.
 */
export class PollLoop {
  readonly #options: PollLoopOptions;
  #stop: AbortController | undefined;
  #done: Promise<void> | undefined;
  #wake: AbortController | undefined;
  #ticking: Promise<number> | undefined;

  constructor(options: PollLoopOptions) {
    this.#options = options;
  }

  /** The pass under way, if any. */
  get ticking(): Promise<number> | undefined {
    return this.#ticking;
  }

  /** Starts the loop (the first pass runs at once). Does nothing while it runs. */
  start(): void {
    if (this.#stop) return;
    const stop = new AbortController();
    this.#stop = stop;
    this.#done = this.#run(stop.signal);
  }

  /** Stops the loop; resolves when the pass under way (if any) ended. */
  async stop(): Promise<void> {
    this.#stop?.abort();
    await this.#done;
    this.#stop = undefined;
    this.#done = undefined;
  }

  /** Ends the current sleep now: the next pass runs at once. */
  wakeUp(): void {
    this.#wake?.abort();
  }

  async #run(signal: AbortSignal): Promise<void> {
    const { clock, tick, onError } = this.#options;
    while (!signal.aborted) {
      let delay: number;
      try {
        this.#ticking = tick(signal);
        delay = await this.#ticking;
      } catch (error) {
        if (signal.aborted) break;
        delay = onError(error);
      } finally {
        this.#ticking = undefined;
      }
      if (signal.aborted) break;
      const wake = new AbortController();
      this.#wake = wake;
      const onStop = () => wake.abort();
      signal.addEventListener('abort', onStop, { once: true });
      try {
        await clock.sleep(Math.max(1, delay), wake.signal);
      } catch {
        // woken early or stopped
      } finally {
        signal.removeEventListener('abort', onStop);
        if (this.#wake === wake) this.#wake = undefined;
      }
    }
  }
}
