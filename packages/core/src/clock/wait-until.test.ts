import { describe, expect, it } from 'vitest';
import { isHypervisorError } from '../errors/hypervisor-error.js';
import { ManualClock } from './clock.js';
import { waitUntil } from './wait-until.js';

describe('waitUntil', () => {
  it('probes until the condition holds, pausing on the clock between probes, and resolves with its value', async () => {
    const clock = new ManualClock();
    const seenAt: number[] = [];
    const waited = waitUntil(
      () => {
        seenAt.push(clock.now());
        return clock.now() >= 250 ? 'up' : undefined;
      },
      { what: 'the server', timeoutMs: 1000, intervalMs: 100, clock },
    );
    await clock.advance(300);
    await expect(waited).resolves.toBe('up');
    expect(seenAt).toEqual([0, 100, 200, 300]);
    expect(clock.pending).toBe(0);
  });

  it('keeps falsy values other than undefined as answers', async () => {
    await expect(waitUntil(async () => 0, { what: 'zero', timeoutMs: 0 })).resolves.toBe(0);
    await expect(waitUntil(() => false, { what: 'false', timeoutMs: 0 })).resolves.toBe(false);
  });

  it('times out with the given code, what it waited for and what it last saw', async () => {
    const clock = new ManualClock();
    let probes = 0;
    const waited = waitUntil(
      () => {
        probes++;
        return undefined;
      },
      {
        what: 'libvirtd to stop',
        timeoutMs: 500,
        intervalMs: 200,
        clock,
        code: 'CONTROL',
        lastSeen: () => 'pid 7 alive',
      },
    ).catch((error: unknown) => error);
    await clock.advance(1000);
    const error = await waited;
    expect(isHypervisorError(error)).toBe(true);
    expect(error).toMatchObject({
      codeName: 'CONTROL',
      details: { timedOut: true, what: 'libvirtd to stop', timeoutMs: 500 },
    });
    expect((error as Error).message).toContain('pid 7 alive');
    expect(probes).toBe(4); // at 0, 200, 400 and 600, the first past the deadline
  });

  it('ends with the probe’s own error', async () => {
    const failure = new Error('broken');
    await expect(
      waitUntil(
        () => {
          throw failure;
        },
        { what: 'x', timeoutMs: 1000 },
      ),
    ).rejects.toBe(failure);
  });

  it('rejects with an aborted CONTROL error when the signal fires, and hands the probe the signal', async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    let given: AbortSignal | undefined;
    const waited = waitUntil(
      (signal) => {
        given = signal;
        return undefined;
      },
      { what: 'the guest', timeoutMs: 10_000, clock, signal: controller.signal },
    ).catch((error: unknown) => error);
    await clock.advance(0);
    controller.abort(new Error('stop'));
    const error = await waited;
    expect(error).toMatchObject({ codeName: 'CONTROL', aborted: true });
    expect(given).toBe(controller.signal);
    expect(clock.pending).toBe(0);
  });

  it('rejects as aborted when the signal fires during a probe, even if the probe then answers', async () => {
    const controller = new AbortController();
    const waited = waitUntil(
      () => {
        controller.abort();
        return 'too late';
      },
      { what: 'the guest', timeoutMs: 1000, signal: controller.signal },
    );
    await expect(waited).rejects.toMatchObject({ codeName: 'CONTROL', aborted: true });
  });
});
