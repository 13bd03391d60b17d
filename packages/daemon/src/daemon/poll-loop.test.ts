import { getEventListeners } from 'node:events';
import { dependantSignals, ManualClock } from '@cvmweb/core/testing';
import { describe, expect, it } from 'vitest';
import { PollLoop } from './poll-loop.js';

/** A loop whose passes are logged at their clock time and ask for `delays` in turn (then 1000 ms). */
function loop(delays: (number | Error)[] = []) {
  const clock = new ManualClock(0);
  const passes: number[] = [];
  const stops: AbortSignal[] = [];
  const errors: unknown[] = [];
  const poll = new PollLoop({
    clock,
    tick: async (stop) => {
      passes.push(clock.now());
      stops.push(stop);
      const next = delays.shift() ?? 1000;
      if (next instanceof Error) throw next;
      return next;
    },
    onError: (error) => {
      errors.push(error);
      return 300;
    },
  });
  return { clock, poll, passes, stops, errors };
}

describe('PollLoop', () => {
  it('runs a pass at once, then after each delay the pass asked for, on the clock', async () => {
    const { clock, poll, passes } = loop([200, 500, 0]);
    poll.start();
    await clock.advance(0);
    expect(passes).toEqual([0]);
    await clock.advance(199);
    expect(passes).toEqual([0]);
    await clock.advance(1);
    expect(passes).toEqual([0, 200]);
    await clock.advance(501);
    // A delay of 0 still sleeps 1 ms.
    expect(passes).toEqual([0, 200, 700, 701]);
    await poll.stop();
  });

  it('a failed pass is reported and the loop goes on after the delay onError gives', async () => {
    const boom = new Error('boom');
    const { clock, poll, passes, errors } = loop([boom]);
    poll.start();
    await clock.advance(300);
    expect(errors).toEqual([boom]);
    expect(passes).toEqual([0, 300]);
    await poll.stop();
  });

  it('wakeUp cuts the sleep short; stop ends the loop and leaves no sleeper', async () => {
    const { clock, poll, passes } = loop([10_000]);
    poll.start();
    await clock.advance(100);
    poll.wakeUp();
    await clock.advance(0);
    expect(passes).toEqual([0, 100]);
    await poll.stop();
    expect(clock.pending).toBe(0);
    await clock.advance(10_000);
    expect(passes).toEqual([0, 100]);
  });

  it('stop waits for the pass under way, whose signal fires', async () => {
    const clock = new ManualClock(0);
    let release!: () => void;
    let seen: AbortSignal | undefined;
    const poll = new PollLoop({
      clock,
      tick: (stop) => {
        seen = stop;
        return new Promise<number>((resolve) => {
          release = () => resolve(1000);
        });
      },
      onError: () => 1000,
    });
    poll.start();
    expect(poll.ticking).toBeDefined();
    let stopped = false;
    const stopping = poll.stop().then(() => {
      stopped = true;
    });
    await clock.advance(0);
    expect(seen?.aborted).toBe(true);
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(poll.ticking).toBeUndefined();
    expect(clock.pending).toBe(0);
  });

  it('keeps at most the one listener of the sleep under way on its stop signal, and no composed signal', async () => {
    const { clock, poll, passes, stops } = loop(Array.from({ length: 600 }, () => 10));
    poll.start();
    await clock.advance(5000);
    expect(passes.length).toBeGreaterThanOrEqual(500);
    const stop = stops[0]!;
    expect(stops.every((s) => s === stop)).toBe(true);
    expect(getEventListeners(stop, 'abort').length).toBeLessThanOrEqual(1);
    expect(dependantSignals(stop)).toBe(0);
    expect(clock.pending).toBe(1);
    await poll.stop();
    expect(getEventListeners(stop, 'abort')).toHaveLength(0);
  });
});
