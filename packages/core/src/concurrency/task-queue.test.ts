import { describe, expect, it } from 'vitest';
import { HypervisorError } from '../errors/hypervisor-error.js';
import { TaskQueue } from './task-queue.js';

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('TaskQueue', () => {
  it('runs tasks one at a time, in call order', async () => {
    const queue = new TaskQueue();
    const log: string[] = [];
    const gates = [deferred(), deferred(), deferred()];
    const runs = gates.map((gate, i) =>
      queue.run(async () => {
        log.push(`start ${i}`);
        await gate.promise;
        log.push(`end ${i}`);
        return i;
      }),
    );
    expect(log).toEqual(['start 0']);
    expect(queue.running).toBe(1);
    expect(queue.waiting).toBe(2);
    gates[2]?.resolve();
    gates[1]?.resolve();
    gates[0]?.resolve();
    expect(await Promise.all(runs)).toEqual([0, 1, 2]);
    expect(log).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
    expect(queue.busy).toBe(false);
  });

  it('starts a task in the call that queues it when the queue is free', () => {
    const queue = new TaskQueue();
    let started = false;
    void queue.run(async () => {
      started = true;
    });
    expect(started).toBe(true);
  });

  it('hands a rejection to its own caller only; the next task still runs', async () => {
    const queue = new TaskQueue();
    const failing = queue.run(async () => {
      throw new Error('boom');
    });
    const throwing = queue.run(() => {
      throw new Error('sync boom');
    });
    const next = queue.run(async () => 'ran');
    await expect(failing).rejects.toThrow('boom');
    await expect(throwing).rejects.toThrow('sync boom');
    expect(await next).toBe('ran');
  });

  it('drops a waiting task whose signal aborts, without running it', async () => {
    const queue = new TaskQueue();
    const gate = deferred();
    const first = queue.run(() => gate.promise);
    const controller = new AbortController();
    let ran = false;
    const abandoned = queue.run(
      async () => {
        ran = true;
      },
      { signal: controller.signal, what: 'the action' },
    );
    const third = queue.run(async () => 'third');
    const reason = new Error('changed my mind');
    controller.abort(reason);
    const error = await abandoned.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HypervisorError);
    expect(error).toMatchObject({ codeName: 'CONTROL', aborted: true, cause: reason });
    expect((error as Error).message).toBe('the action was aborted');
    expect(queue.waiting).toBe(1);
    gate.resolve();
    await first;
    expect(await third).toBe('third');
    expect(ran).toBe(false);
  });

  it('refuses a task whose signal has already fired, and leaves a running task alone on abort', async () => {
    const queue = new TaskQueue();
    let ran = false;
    await expect(
      queue.run(
        async () => {
          ran = true;
        },
        { signal: AbortSignal.abort() },
      ),
    ).rejects.toMatchObject({ codeName: 'CONTROL', aborted: true });
    expect(ran).toBe(false);
    expect(queue.busy).toBe(false);

    const controller = new AbortController();
    const gate = deferred<string>();
    const running = queue.run(() => gate.promise, { signal: controller.signal });
    controller.abort();
    gate.resolve('finished');
    expect(await running).toBe('finished');
  });

  it('runs up to `concurrency` tasks at once', async () => {
    const queue = new TaskQueue({ concurrency: 2 });
    const gates = [deferred(), deferred(), deferred()];
    let active = 0;
    let peak = 0;
    const runs = gates.map((gate) =>
      queue.run(async () => {
        active++;
        peak = Math.max(peak, active);
        await gate.promise;
        active--;
      }),
    );
    expect(queue.running).toBe(2);
    expect(queue.waiting).toBe(1);
    gates[0]?.resolve();
    await runs[0];
    expect(queue.running).toBe(2);
    gates[1]?.resolve();
    gates[2]?.resolve();
    await Promise.all(runs);
    expect(peak).toBe(2);
  });

  it('is no longer busy when the caller of its last task resumes', async () => {
    const queue = new TaskQueue();
    await queue.run(async () => undefined);
    expect(queue.busy).toBe(false);
  });

  it('onIdle resolves when the last task settles, or at once when idle', async () => {
    const queue = new TaskQueue();
    await queue.onIdle();
    const gate = deferred();
    void queue.run(() => gate.promise);
    let idle = false;
    const waiting = queue.onIdle().then(() => {
      idle = true;
    });
    await Promise.resolve();
    expect(idle).toBe(false);
    gate.resolve();
    await waiting;
    expect(idle).toBe(true);
  });
});
