import type { ProgressListener } from '../action-options.js';

/** The fixed `total` of every action's progress: `done` counts hundredths of the action. */
export const PROGRESS_TOTAL = 100;

/**
 * One progress counter per action. The action is split into `phases` equal parts (create the VM;
 * write the medium, boot; remove the VM, remove the files); whatever a phase's own steps report
 * (an image download in bytes, a driver's `0/3 … 3/3`) is mapped into that phase's part. So within
 * one action `total` is always {@link PROGRESS_TOTAL} and `done` never goes back: a report that
 * would move it back (a sub-step starting its own count) keeps `done` and tells only the message.
 * @internal
 */
export class ProgressCounter {
  readonly #phases: number;
  readonly #emit: ProgressListener;
  #phase = 0;
  #done = -1;

  constructor(phases: number, emit: ProgressListener) {
    this.#phases = Math.max(1, phases);
    this.#emit = emit;
  }

  /** Something was reported. */
  get reported(): boolean {
    return this.#done >= 0;
  }

  /** Enters phase `index` (0-based) with `message`. */
  phase(index: number, message: string): void {
    this.#phase = Math.min(Math.max(0, index), this.#phases - 1);
    this.#report(this.#start(this.#phase), message);
  }

  /** A listener for the current phase's own steps, mapped into the phase's part of the counter. */
  readonly step: ProgressListener = (done, total, message) => {
    const fraction = total > 0 && Number.isFinite(done / total) ? Math.min(Math.max(done / total, 0), 1) : 0;
    const start = this.#start(this.#phase);
    const end = this.#start(this.#phase + 1);
    // The end of a phase belongs to the next phase's start or to finish(), never to a sub-step.
    this.#report(Math.min(start + Math.floor(fraction * (end - start)), Math.max(start, end - 1)), message);
  };

  /** The action finished: `done` reaches `total`. */
  finish(message: string): void {
    this.#report(PROGRESS_TOTAL, message);
  }

  #start(phase: number): number {
    return Math.floor((phase * PROGRESS_TOTAL) / this.#phases);
  }

  #report(done: number, message: string): void {
    this.#done = Math.max(this.#done, done);
    this.#emit(this.#done, PROGRESS_TOTAL, message);
  }
}
