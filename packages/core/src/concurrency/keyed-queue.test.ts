import { describe, expect, it } from 'vitest';
import { KeyedQueue } from './keyed-queue.js';

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((res) => {
    resolve = res;
  });
  return { promise, resolve };
}

describe('KeyedQueue', () => {
  it('serialises the tasks of one key and runs different keys side by side', async () => {
    const queue = new KeyedQueue();
    const log: string[] = [];
    const a1 = deferred();
    const b1 = deferred();
    const runs = [
      queue.run('a', async () => {
        log.push('a1 start');
        await a1.promise;
        log.push('a1 end');
      }),
      queue.run('a', async () => {
        log.push('a2 start');
      }),
      queue.run('b', async () => {
        log.push('b1 start');
        await b1.promise;
      }),
    ];
    expect(log).toEqual(['a1 start', 'b1 start']);
    expect(queue.busy('a')).toBe(true);
    expect(queue.busy('b')).toBe(true);
    expect(queue.size).toBe(2);
    b1.resolve();
    a1.resolve();
    await Promise.all(runs);
    expect(log).toEqual(['a1 start', 'b1 start', 'a1 end', 'a2 start']);
  });

  it('forgets a key once its work is done, also after failures and abandoned waits', async () => {
    const queue = new KeyedQueue<number>();
    await queue.run(1, async () => 'ok');
    await expect(
      queue.run(2, async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    await expect(queue.run(3, async () => undefined, { signal: AbortSignal.abort() })).rejects.toMatchObject({
      aborted: true,
    });
    await queue.onIdle();
    expect(queue.size).toBe(0);
    expect(queue.busy(1)).toBe(false);

    const gate = deferred();
    const controller = new AbortController();
    const running = queue.run(4, () => gate.promise);
    const waiting = queue.run(4, async () => undefined, { signal: controller.signal });
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ aborted: true });
    expect(queue.busy(4)).toBe(true);
    gate.resolve();
    await running;
    await queue.onIdle();
    expect(queue.size).toBe(0);
  });

  it('a failure does not poison the later tasks of its key', async () => {
    const queue = new KeyedQueue();
    const first = queue.run('k', async () => {
      throw new Error('first failed');
    });
    const second = queue.run('k', async () => 'second ran');
    await expect(first).rejects.toThrow('first failed');
    expect(await second).toBe('second ran');
  });

  it('reuses a key that comes back while its old queue is being forgotten', async () => {
    const queue = new KeyedQueue();
    const log: number[] = [];
    await queue.run('k', async () => log.push(1));
    const gate = deferred();
    const second = queue.run('k', async () => {
      await gate.promise;
      log.push(2);
    });
    const third = queue.run('k', async () => log.push(3));
    gate.resolve();
    await Promise.all([second, third]);
    expect(log).toEqual([1, 2, 3]);
    await queue.onIdle();
    expect(queue.size).toBe(0);
  });

  it('limits each key to `concurrency` running tasks', async () => {
    const queue = new KeyedQueue({ concurrency: 2 });
    const gates = [deferred(), deferred(), deferred()];
    let started = 0;
    const runs = gates.map((gate) =>
      queue.run('k', async () => {
        started++;
        await gate.promise;
      }),
    );
    expect(started).toBe(2);
    for (const gate of gates) gate.resolve();
    await Promise.all(runs);
    expect(started).toBe(3);
  });

  it('onIdle waits for every key', async () => {
    const queue = new KeyedQueue();
    const a = deferred();
    const b = deferred();
    void queue.run('a', () => a.promise);
    void queue.run('b', () => b.promise);
    let idle = false;
    const waiting = queue.onIdle().then(() => {
      idle = true;
    });
    a.resolve();
    await queue.run('c', async () => undefined);
    expect(idle).toBe(false);
    b.resolve();
    await waiting;
    expect(queue.size).toBe(0);
  });
});
