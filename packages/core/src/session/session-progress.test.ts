import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDriver } from '../../test/fake-driver.js';
import type { ActionOptions, ProgressOptions } from '../action-options.js';
import { ManualClock } from '../clock/clock.js';
import { createCvmweb } from '../create-cvmweb.js';
import type { Hypervisor, VmHandle } from '../driver/driver.js';
import { ImageCache } from '../images/image-cache.js';
import { createMemorySessionRegistry } from '../registry/memory-session-registry.js';
import { TEST_SCRYPT_COST } from '../registry/owner-secret.js';
import { PROGRESS_TOTAL, ProgressCounter } from './progress-counter.js';

type Report = [done: number, total: number];

/** A fake driver whose create, start, stop and destroy report the given sub-steps, as real drivers do (a download in bytes, then their own 0/3 … 3/3). */
class ReportingDriver extends FakeDriver {
  reports: Report[] = [];

  override async create(options?: ActionOptions): Promise<Hypervisor> {
    const hypervisor = await super.create(options);
    const report = (o: ProgressOptions | undefined) => {
      for (const [done, total] of this.reports) o?.onProgress?.(done, total, `step ${done}/${total}`);
    };
    const wrap = (vm: VmHandle): VmHandle => ({
      ...vm,
      start: async (spec, o) => {
        report(o);
        await vm.start(spec, o);
      },
      stop: async (o) => {
        report(o);
        await vm.stop(o);
      },
      destroy: async (o) => {
        report(o);
        await vm.destroy(o);
      },
    });
    return {
      ...hypervisor,
      createVm: async (spec, o) => {
        report(o);
        return wrap(await hypervisor.createVm(spec, o));
      },
      findVm: async (id, o) => {
        const vm = await hypervisor.findVm(id, o);
        return vm && wrap(vm);
      },
    };
  }
}

function assertOneCounter(progress: Report[], action: string): void {
  expect(progress.length, action).toBeGreaterThan(0);
  for (const [, total] of progress) expect(total, action).toBe(PROGRESS_TOTAL);
  for (let i = 1; i < progress.length; i++) {
    expect(progress[i]![0], `${action}: ${JSON.stringify(progress)}`).toBeGreaterThanOrEqual(
      progress[i - 1]![0],
    );
  }
  expect(progress.at(-1), action).toEqual([PROGRESS_TOTAL, PROGRESS_TOTAL]);
}

describe('Session progress: one counter per action', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'cvmweb-session-progress-test-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('open, start, stop and close each report a fixed total and a done that never goes back, whatever the driver reports', async () => {
    const report = fc.tuple(fc.integer({ min: -5, max: 2000 }), fc.integer({ min: -1, max: 2000 }));
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(report, { maxLength: 12 }), async (reports) => {
        const stateDir = join(root, String(run++));
        const driver = new ReportingDriver();
        driver.reports = reports;
        const cvmweb = await createCvmweb({
          driver,
          stateDir,
          registry: createMemorySessionRegistry(),
          secretCost: TEST_SCRYPT_COST,
          clock: new ManualClock(1_000_000),
          images: new ImageCache({ directory: join(stateDir, 'cache') }),
        });
        try {
          const session = await cvmweb.requestSession('progress', 'secret');
          let progress: Report[] = [];
          session.on('progress', (done, total) => progress.push([done, total]));
          for (const [action, run] of [
            ['open', () => session.open()],
            ['start', () => session.start('x')],
            ['stop', () => session.stop()],
            ['close', () => session.close()],
          ] as const) {
            progress = [];
            await run();
            if (action === 'stop' && reports.length === 0) expect(progress).toEqual([]);
            else assertOneCounter(progress, action);
          }
        } finally {
          await cvmweb.dispose();
          await rm(stateDir, { recursive: true, force: true });
        }
      }),
      { numRuns: 40 },
    );
  });

  it('maps the recorded open of a driver that downloads, then counts its own steps', () => {
    const seen: Report[] = [];
    const counter = new ProgressCounter(1, (done, total) => seen.push([done, total]));
    counter.phase(0, 'Creating the virtual machine');
    for (const [done, total] of [
      [0, 1000],
      [500, 1000],
      [1000, 1000],
      [0, 3],
      [1, 3],
      [2, 3],
      [3, 3],
    ] as Report[])
      counter.step(done, total, 'step');
    counter.finish('Virtual machine created');
    // Before: 0/1, 0/1000, 500/1000, 1000/1000, 0/3 … 3/3, 1/1 — a bar that jumps back twice.
    expect(seen).toEqual([
      [0, 100],
      [0, 100],
      [50, 100],
      [99, 100],
      [99, 100],
      [99, 100],
      [99, 100],
      [99, 100],
      [100, 100],
    ]);
  });
});
