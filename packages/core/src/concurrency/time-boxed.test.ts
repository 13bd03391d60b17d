import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock/clock.js';
import { dependantSignals } from '../testing/dependant-signals.js';
import { timeBoxed } from './time-boxed.js';

/** Work that settles only when its signal fires (then rejects with the reason), or never if it ignores it. */
function hanging(respectSignal: boolean) {
  const seen: AbortSignal[] = [];
  const work = (signal: AbortSignal) => {
    seen.push(signal);
    return new Promise<never>((_, reject) => {
      if (respectSignal) signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  };
  return { work, seen };
}

describe('timeBoxed', () => {
  it('gives the value, or the failure, of work that ends in time', async () => {
    const clock = new ManualClock(0);
    expect(await timeBoxed(async () => 42, { timeoutMs: 100, clock })).toEqual({ ok: true, value: 42 });
    const boom = new Error('boom');
    expect(
      await timeBoxed(
        async () => {
          throw boom;
        },
        { timeoutMs: 100, clock },
      ),
    ).toEqual({ ok: false, why: 'failed', error: boom });
    expect(
      await timeBoxed(
        () => {
          throw boom;
        },
        { timeoutMs: 100, clock },
      ),
    ).toMatchObject({ ok: false, why: 'failed' });
    expect(clock.pending).toBe(0);
  });

  it('times out on the given clock, aborting the work’s signal, even when the work ignores it', async () => {
    for (const respectSignal of [true, false]) {
      const clock = new ManualClock(0);
      const { work, seen } = hanging(respectSignal);
      let outcome: unknown;
      const boxed = timeBoxed(work, { timeoutMs: 1000, clock }).then((o) => {
        outcome = o;
      });
      await clock.advance(999);
      expect(outcome).toBeUndefined();
      expect(seen[0]?.aborted).toBe(false);
      await clock.advance(1);
      await boxed;
      expect(outcome).toMatchObject({ ok: false, why: 'timeout' });
      expect(seen[0]?.aborted).toBe(true);
      expect((seen[0]?.reason as DOMException).name).toBe('TimeoutError');
      expect(clock.pending).toBe(0);
    }
  });

  it('ends at once when the caller’s signal fires, or has fired', async () => {
    const clock = new ManualClock(0);
    const { work, seen } = hanging(false);
    const controller = new AbortController();
    const boxed = timeBoxed(work, { timeoutMs: 1000, clock, signal: controller.signal });
    controller.abort('stop');
    expect(await boxed).toEqual({ ok: false, why: 'aborted', error: 'stop' });
    expect(seen[0]?.aborted).toBe(true);
    expect(clock.pending).toBe(0);
    expect(await timeBoxed(work, { timeoutMs: 1000, clock, signal: controller.signal })).toMatchObject({
      why: 'aborted',
    });
    expect(seen).toHaveLength(1);
  });

  it('leaves no listener, composed signal or timer on a long-lived caller signal', async () => {
    const clock = new ManualClock(0);
    const stop = new AbortController();
    const { work } = hanging(true);
    for (let i = 0; i < 300; i++) {
      const timingOut = timeBoxed(work, { timeoutMs: 50, clock, signal: stop.signal });
      await clock.advance(50);
      expect(await timingOut).toMatchObject({ why: 'timeout' });
      expect(await timeBoxed(async () => i, { timeoutMs: 50, clock, signal: stop.signal })).toEqual({
        ok: true,
        value: i,
      });
    }
    expect(getEventListeners(stop.signal, 'abort')).toHaveLength(0);
    expect(dependantSignals(stop.signal)).toBe(0);
    expect(clock.pending).toBe(0);
  });
});
