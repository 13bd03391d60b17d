import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HypervisorError } from '../errors/hypervisor-error.js';
import { systemClock } from './clock.js';
import { sleep } from './sleep.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('sleep', () => {
  it('resolves after the given time, not before', async () => {
    let done = false;
    const slept = sleep(1000).then(() => {
      done = true;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await slept;
    expect(done).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects at once with an aborted CONTROL error carrying the reason, and clears its timer', async () => {
    const controller = new AbortController();
    const slept = sleep(60_000, { signal: controller.signal, what: 'waiting for the guest' });
    expect(vi.getTimerCount()).toBe(1);
    const reason = new Error('user gave up');
    controller.abort(reason);
    const error = await slept.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HypervisorError);
    expect(error).toMatchObject({ codeName: 'CONTROL', aborted: true, cause: reason });
    expect((error as Error).message).toBe('waiting for the guest was aborted');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects without starting a timer when the signal has already fired', async () => {
    const reason = new Error('too late');
    const error = await sleep(10, { signal: AbortSignal.abort(reason) }).catch((e: unknown) => e);
    expect(error).toMatchObject({ codeName: 'CONTROL', aborted: true, cause: reason });
    expect((error as Error).message).toBe('sleep was aborted');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('removes its abort listener when it resolves', async () => {
    const controller = new AbortController();
    const remove = vi.spyOn(controller.signal, 'removeEventListener');
    const slept = sleep(5, { signal: controller.signal });
    await vi.advanceTimersByTimeAsync(5);
    await slept;
    expect(remove).toHaveBeenCalledWith('abort', expect.any(Function));
    controller.abort();
  });

  it('is what the system clock sleeps with', async () => {
    const controller = new AbortController();
    const slept = systemClock.sleep(50, controller.signal);
    controller.abort('stop');
    await expect(slept).rejects.toMatchObject({ codeName: 'CONTROL', aborted: true, cause: 'stop' });
    expect(vi.getTimerCount()).toBe(0);
  });
});
