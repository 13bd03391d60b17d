import { describe, expect, it } from 'vitest';
import { isHypervisorError } from '../errors/hypervisor-error.js';
import { SingleFlight } from './single-flight.js';

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('SingleFlight', () => {
  it('runs one task per key and gives every caller its outcome and progress', async () => {
    const flight = new SingleFlight<string>();
    const gate = deferred<void>();
    let runs = 0;
    const task = async (_signal: AbortSignal, progress: (d: number, t: number, m: string) => void) => {
      runs++;
      progress(1, 2, 'half');
      await gate.promise;
      return 'done';
    };
    const early: number[] = [];
    const late: number[] = [];
    const a = flight.run('k', task, { what: 'x', onProgress: (done) => early.push(done) });
    await Promise.resolve();
    await Promise.resolve();
    const b = flight.run('k', task, { what: 'x', onProgress: (done) => late.push(done) });
    expect(flight.has('k')).toBe(true);
    gate.resolve();
    expect(await Promise.all([a, b])).toEqual(['done', 'done']);
    expect(runs).toBe(1);
    expect(early).toEqual([1]);
    expect(late).toEqual([1]);
    expect(flight.has('k')).toBe(false);
  });

  it('cancels the task only when every caller has aborted, and runs the next after it settles', async () => {
    const flight = new SingleFlight<string>();
    const events: string[] = [];
    let taskSignal: AbortSignal | undefined;
    // The first task winds down only when the test lets it, after its signal fired.
    let windDown!: () => void;
    const wound = new Promise<void>((resolve) => {
      windDown = resolve;
    });
    const slow = (signal: AbortSignal) =>
      new Promise<string>((_resolve, reject) => {
        taskSignal = signal;
        signal.addEventListener('abort', () =>
          wound.then(() => {
            events.push('first settled');
            reject(new Error('stopped'));
          }),
        );
      });
    const one = new AbortController();
    const two = new AbortController();
    const a = flight.run('k', slow, { what: 'Work', signal: one.signal });
    const b = flight.run('k', slow, { what: 'Work', signal: two.signal });
    await Promise.resolve();
    await Promise.resolve();
    one.abort();
    const errorA = await a.catch((error: unknown) => error);
    expect(isHypervisorError(errorA) && errorA.aborted).toBe(true);
    expect(taskSignal?.aborted).toBe(false);
    two.abort();
    await b.catch(() => {});
    expect(taskSignal?.aborted).toBe(true);
    const c = flight.run(
      'k',
      async () => {
        events.push('second ran');
        return 'ok';
      },
      { what: 'Work' },
    );
    for (let i = 0; i < 10; i++) await Promise.resolve();
    expect(events).toEqual([]);
    windDown();
    expect(await c).toBe('ok');
    expect(events).toEqual(['first settled', 'second ran']);
  });
});
