import { describe, expect, it } from 'vitest';
import { abortable } from './abortable.js';

describe('abortable', () => {
  it('passes the outcome through without a signal or before it fires', async () => {
    expect(await abortable(Promise.resolve(1), undefined, 'x')).toBe(1);
    expect(await abortable(Promise.resolve(2), new AbortController().signal, 'x')).toBe(2);
    await expect(
      abortable(Promise.reject(new Error('no')), new AbortController().signal, 'x'),
    ).rejects.toThrow('no');
  });

  it('stops waiting when the signal fires, while the work goes on', async () => {
    const controller = new AbortController();
    let finish!: (value: string) => void;
    const work = new Promise<string>((resolve) => {
      finish = resolve;
    });
    const waited = abortable(work, controller.signal, 'stopping the daemon');
    controller.abort('bye');
    await expect(waited).rejects.toMatchObject({ codeName: 'CONTROL', aborted: true, cause: 'bye' });
    finish('done');
    expect(await work).toBe('done');
    await expect(abortable(work, AbortSignal.abort(), 'late')).rejects.toThrow('late was aborted');
  });
});
