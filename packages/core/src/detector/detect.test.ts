import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ActionOptions } from '../action-options.js';
import type { Driver, ProbeResult } from '../driver/driver.js';
import { ErrorCode } from '../errors/error-code.js';
import { HypervisorError, isHypervisorError } from '../errors/hypervisor-error.js';
import { type DetectOptions, detect } from './detect.js';
import { formatDetectionTable } from './format-detection-table.js';

interface FakeBehaviour {
  /** What the probe resolves with (merged over a healthy, installed, score-50 result). */
  result?: Partial<ProbeResult>;
  /** Resolve after this many ms (0: next microtask). */
  delayMs?: number;
  /** Throw this synchronously from probe(). */
  throws?: unknown;
  /** Reject with this. */
  rejects?: unknown;
  /** Never settle, and ignore the signal. */
  hang?: boolean;
  /** Resolve with exactly this value (for malformed results). */
  raw?: unknown;
}

interface FakeDriver extends Driver {
  calls: number;
  signals: AbortSignal[];
}

const events: string[] = [];

function fake(name: string, behaviour: FakeBehaviour = {}): FakeDriver {
  const driver: FakeDriver = {
    name,
    calls: 0,
    signals: [],
    capabilities: {
      executionCap: false,
      pause: false,
      hibernate: false,
      reset: false,
      guestProperties: false,
      apiPortForwarding: false,
    },
    probe(options?: ActionOptions): Promise<ProbeResult> {
      driver.calls += 1;
      if (options?.signal) driver.signals.push(options.signal);
      events.push(`start:${name}`);
      if (behaviour.throws !== undefined) throw behaviour.throws;
      if (behaviour.rejects !== undefined) return Promise.reject(behaviour.rejects);
      if (behaviour.hang) return new Promise<ProbeResult>(() => {});
      const result =
        behaviour.raw !== undefined
          ? (behaviour.raw as ProbeResult)
          : { installed: true, healthy: true, score: 50, version: '1.0', ...behaviour.result };
      return new Promise((resolve) => {
        setTimeout(() => {
          events.push(`end:${name}`);
          resolve(result);
        }, behaviour.delayMs ?? 0);
      });
    },
    create: () => Promise.reject(new HypervisorError('NOT_IMPLEMENTED', 'fake driver')),
  };
  return driver;
}

/** detect() with an empty environment, so the developer's CVMWEB_DRIVER cannot leak in. */
function run(drivers: readonly Driver[], options: DetectOptions = {}) {
  return detect(drivers, { env: {}, ...options });
}

async function rejection(promise: Promise<unknown>): Promise<HypervisorError> {
  try {
    await promise;
  } catch (error) {
    expect(isHypervisorError(error)).toBe(true);
    return error as HypervisorError;
  }
  throw new Error('expected a rejection');
}

afterEach(() => {
  events.length = 0;
  vi.useRealTimers();
});

describe('detect: parallel, time-boxed probes', () => {
  it('starts every probe before any finishes, and takes about as long as the slowest', async () => {
    const drivers = [fake('a', { delayMs: 200 }), fake('b', { delayMs: 200 }), fake('c', { delayMs: 200 })];
    const detection = await run(drivers);
    // Overlap is proven by the order of events, not by wall time (CI machines are loaded).
    expect(events.slice(0, 3).sort()).toEqual(['start:a', 'start:b', 'start:c']);
    expect(events.slice(3).every((e) => e.startsWith('end:'))).toBe(true);
    expect(detection.candidates).toHaveLength(3);
    for (const c of detection.candidates) expect(c.durationMs).toBeGreaterThanOrEqual(150);
  });

  it('reports a probe that outlives the time box as unhealthy, aborts its signal, and still picks a winner', async () => {
    const slow = fake('slow', { delayMs: 2000, result: { score: 100 } });
    const quick = fake('quick', { result: { score: 10 } });
    const started = performance.now();
    const detection = await run([slow, quick], { timeoutMs: 50 });
    expect(performance.now() - started).toBeLessThan(1900);
    const candidate = detection.candidates.find((c) => c.name === 'slow')!;
    expect(candidate.probe).toMatchObject({ installed: true, healthy: false, score: 0 });
    expect(candidate.probe.reason).toBe('probe timed out after 50 ms');
    expect(candidate.rejected).toBe('unhealthy: probe timed out after 50 ms');
    expect(slow.signals[0]?.aborted).toBe(true);
    expect(detection.winner?.name).toBe('quick');
  });

  it('turns a probe that never settles (and ignores its signal) into a timed-out candidate', async () => {
    const detection = await run([fake('stuck', { hang: true }), fake('ok')], { timeoutMs: 30 });
    expect(detection.candidates.find((c) => c.name === 'stuck')?.probe.reason).toBe(
      'probe timed out after 30 ms',
    );
    expect(detection.winner?.name).toBe('ok');
  });

  it('turns a probe that throws synchronously into an unhealthy candidate with the message', async () => {
    const detection = await run([fake('boom', { throws: new Error('VBoxManage crashed') }), fake('ok')]);
    const boom = detection.candidates.find((c) => c.name === 'boom')!;
    expect(boom.probe).toMatchObject({ healthy: false, reason: 'VBoxManage crashed' });
    expect(boom.rejected).toBe('unhealthy: VBoxManage crashed');
    expect(detection.winner?.name).toBe('ok');
  });

  it('turns a rejecting probe into an unhealthy candidate, even when it rejects with a non-Error', async () => {
    const detection = await run([
      fake('rejects', { rejects: new TypeError('libvirt socket refused') }),
      fake('string', { rejects: 'plain string' }),
    ]);
    expect(detection.winner).toBeUndefined();
    const reasons = Object.fromEntries(detection.candidates.map((c) => [c.name, c.probe.reason]));
    expect(reasons).toEqual({ rejects: 'libvirt socket refused', string: 'plain string' });
  });

  it('turns a malformed probe result into an unhealthy candidate', async () => {
    const detection = await run([fake('bad', { raw: { installed: 'yes' } }), fake('nan', { raw: null })]);
    for (const c of detection.candidates) {
      expect(c.probe.healthy).toBe(false);
      expect(c.probe.reason).toMatch(/^probe returned an invalid result/);
    }
  });

  it('clears its time-box timers when probes finish', async () => {
    vi.useFakeTimers();
    const pending = run([fake('a'), fake('b')], { timeoutMs: 5000 });
    await vi.advanceTimersByTimeAsync(1);
    await pending;
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('detect: choosing the winner', () => {
  it('picks the highest score, breaks ties by array order, and explains every loser', async () => {
    const drivers = [
      fake('gone', {
        result: { installed: false, healthy: false, score: 0, reason: 'VBoxManage not on PATH' },
      }),
      fake('virtualbox', { result: { score: 50 } }),
      fake('kvm', { result: { score: 100 } }),
      fake('qemu', { result: { score: 100 } }),
      fake('broken', { result: { healthy: false, score: 90, reason: '/dev/kvm not writable' } }),
      fake('mock', { result: { score: 0 } }),
    ];
    const detection = await run(drivers);
    expect(detection.winner?.name).toBe('kvm');
    expect(detection.winner?.selected).toBe(true);
    expect(detection.override).toBeUndefined();
    expect(detection.candidates.map((c) => c.name)).toEqual([
      'kvm',
      'qemu',
      'virtualbox',
      'mock',
      'broken',
      'gone',
    ]);
    const why = Object.fromEntries(detection.candidates.map((c) => [c.name, c.rejected]));
    expect(why).toEqual({
      kvm: undefined,
      qemu: 'same score (100) as kvm, which comes first',
      virtualbox: 'lower score (50) than kvm (100)',
      mock: 'score 0: selected only explicitly',
      broken: 'unhealthy: /dev/kvm not writable',
      gone: 'not installed: VBoxManage not on PATH',
    });
    expect(detection.candidates.filter((c) => c.selected)).toHaveLength(1);
  });

  it('the earlier of two equal drivers wins whichever order they come in', async () => {
    const detection = await run([
      fake('qemu', { result: { score: 100 } }),
      fake('kvm', { result: { score: 100 } }),
    ]);
    expect(detection.winner?.name).toBe('qemu');
  });

  it('never lets a score-0 driver win by itself', async () => {
    const detection = await run([fake('mock', { result: { score: 0 } })]);
    expect(detection.winner).toBeUndefined();
    expect(detection.candidates[0]?.rejected).toBe('score 0: selected only explicitly');
  });

  it('treats "healthy but not installed" as not installed', async () => {
    const detection = await run([fake('liar', { result: { installed: false, healthy: true, score: 100 } })]);
    expect(detection.winner).toBeUndefined();
    expect(detection.candidates[0]?.rejected).toMatch(/^not installed: /);
  });

  it('returns no winner and no candidates for no drivers', async () => {
    expect(await run([])).toEqual({ candidates: [] });
  });
});

describe('detect: overrides', () => {
  const drivers = () => [
    fake('kvm', { result: { score: 100 } }),
    fake('virtualbox', { result: { score: 50 } }),
    fake('mock', { result: { score: 0 } }),
  ];

  it('selects the driver named by the prefer option, even with score 0', async () => {
    const detection = await run(drivers(), { prefer: 'mock' });
    expect(detection.winner?.name).toBe('mock');
    expect(detection.override).toEqual({ name: 'mock', source: 'option' });
    expect(detection.candidates[0]?.name).toBe('mock');
    expect(detection.candidates.find((c) => c.name === 'kvm')?.rejected).toBe('not requested (prefer=mock)');
  });

  it('selects the driver named by CVMWEB_DRIVER', async () => {
    const detection = await detect(drivers(), { env: { CVMWEB_DRIVER: 'virtualbox' } });
    expect(detection.winner?.name).toBe('virtualbox');
    expect(detection.override).toEqual({ name: 'virtualbox', source: 'env' });
    expect(detection.candidates.find((c) => c.name === 'kvm')?.rejected).toBe(
      'not requested (CVMWEB_DRIVER=virtualbox)',
    );
  });

  it('lets the prefer option beat CVMWEB_DRIVER', async () => {
    const detection = await detect(drivers(), { prefer: 'mock', env: { CVMWEB_DRIVER: 'virtualbox' } });
    expect(detection.winner?.name).toBe('mock');
    expect(detection.override?.source).toBe('option');
  });

  it('ignores an empty CVMWEB_DRIVER and normalises case and spaces', async () => {
    expect((await detect(drivers(), { env: { CVMWEB_DRIVER: '' } })).winner?.name).toBe('kvm');
    expect((await detect(drivers(), { env: { CVMWEB_DRIVER: ' VirtualBox ' } })).winner?.name).toBe(
      'virtualbox',
    );
  });

  it('rejects an unknown name with NOT_FOUND listing the known drivers, without probing', async () => {
    const list = drivers();
    const error = await rejection(detect(list, { env: { CVMWEB_DRIVER: 'hyperv' } }));
    expect(error.code).toBe(ErrorCode.NOT_FOUND);
    expect(error.code).toBe(-9);
    expect(error.message).toContain('kvm, virtualbox, mock');
    expect(error.message).toContain('CVMWEB_DRIVER=hyperv');
    expect(error.details).toMatchObject({
      name: 'hyperv',
      source: 'env',
      known: ['kvm', 'virtualbox', 'mock'],
    });
    expect(list.every((d) => d.calls === 0)).toBe(true);
    expect((await rejection(run(list, { prefer: 'xen' }))).codeName).toBe('NOT_FOUND');
  });

  it('returns no winner when the requested driver is unhealthy, with its reason first', async () => {
    const list = [
      fake('kvm', { result: { score: 100 } }),
      fake('virtualbox', {
        result: { healthy: false, score: 50, reason: 'VT-x is used by KVM', fix: 'rmmod kvm' },
      }),
    ];
    const detection = await run(list, { prefer: 'virtualbox' });
    expect(detection.winner).toBeUndefined();
    expect(detection.candidates[0]?.name).toBe('virtualbox');
    expect(detection.candidates[0]?.rejected).toBe('unhealthy: VT-x is used by KVM');
    expect(detection.candidates[1]?.rejected).toBe('not requested (prefer=virtualbox)');
    expect(detection.candidates.some((c) => c.selected)).toBe(false);
  });

  it('returns no winner when the requested driver is not installed', async () => {
    const list = [
      fake('kvm', { result: { installed: false, healthy: false, reason: 'no /dev/kvm' } }),
      fake('mock'),
    ];
    const detection = await run(list, { prefer: 'kvm' });
    expect(detection.winner).toBeUndefined();
    expect(detection.candidates[0]?.rejected).toBe('not installed: no /dev/kvm');
  });
});

describe('detect: cache and sharing', () => {
  it('probes once across two calls, and the second call is served from the cache', async () => {
    const driver = fake('kvm', { delayMs: 20, result: { score: 100 } });
    const first = await run([driver]);
    const second = await run([driver]);
    expect(driver.calls).toBe(1);
    expect(first.winner?.cached).toBe(false);
    expect(second.winner?.cached).toBe(true);
    expect(second.winner?.probe).toEqual(first.winner?.probe);
  });

  it('probes again with refresh: true', async () => {
    const driver = fake('kvm');
    await run([driver]);
    await run([driver], { refresh: true });
    expect(driver.calls).toBe(2);
  });

  it('probes again once the time to live has passed', async () => {
    let clock = 1_000;
    const now = () => clock;
    const driver = fake('kvm');
    await run([driver], { now, cacheTtlMs: 1000 });
    clock += 999;
    await run([driver], { now, cacheTtlMs: 1000 });
    expect(driver.calls).toBe(1);
    clock += 1;
    await run([driver], { now, cacheTtlMs: 1000 });
    expect(driver.calls).toBe(2);
  });

  it('does not cache with cacheTtlMs: 0', async () => {
    const driver = fake('kvm');
    await run([driver], { cacheTtlMs: 0 });
    await run([driver], { cacheTtlMs: 0 });
    expect(driver.calls).toBe(2);
  });

  it('keeps the cache per driver object', async () => {
    const a = fake('kvm');
    const b = fake('kvm');
    await run([a]);
    await run([b]);
    expect([a.calls, b.calls]).toEqual([1, 1]);
  });

  it('shares a running probe between concurrent calls, even with refresh', async () => {
    const driver = fake('kvm', { delayMs: 50 });
    const [one, two, three] = await Promise.all([
      run([driver]),
      run([driver]),
      run([driver], { refresh: true }),
    ]);
    expect(driver.calls).toBe(1);
    expect(two.winner?.probe).toBe(one.winner?.probe);
    expect(three.winner?.probe).toBe(one.winner?.probe);
  });
});

describe('detect: abort and usage', () => {
  it('rejects with an aborted CONTROL error, aborts the probes, and does not cache them', async () => {
    const driver = fake('kvm', { delayMs: 300 });
    const controller = new AbortController();
    const pending = run([driver], { signal: controller.signal });
    // Aborted while the probe runs (it answers only after 300 ms).
    await vi.waitFor(() => expect(driver.signals).toHaveLength(1));
    controller.abort();
    const error = await rejection(pending);
    expect(error.code).toBe(ErrorCode.CONTROL);
    expect(error.aborted).toBe(true);
    expect(driver.signals[0]?.aborted).toBe(true);
    await run([driver]);
    expect(driver.calls).toBe(2);
  });

  it('rejects at once, without probing, when the signal is already aborted', async () => {
    const driver = fake('kvm');
    const error = await rejection(run([driver], { signal: AbortSignal.abort() }));
    expect(error.aborted).toBe(true);
    expect(driver.calls).toBe(0);
  });

  it('keeps a shared probe running for the other caller when one caller aborts', async () => {
    const driver = fake('kvm', { delayMs: 60 });
    const controller = new AbortController();
    const aborted = run([driver], { signal: controller.signal });
    const other = run([driver]);
    controller.abort();
    await rejection(aborted);
    const detection = await other;
    expect(detection.winner?.name).toBe('kvm');
    expect(driver.signals[0]?.aborted).toBe(false);
    expect(driver.calls).toBe(1);
  });

  it('clears the time box of a probe it cancels', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const pending = run([fake('stuck', { hang: true })], { signal: controller.signal, timeoutMs: 5000 });
    expect(vi.getTimerCount()).toBe(1);
    controller.abort();
    await rejection(pending);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('removes its abort listener once the probes are done', async () => {
    const controller = new AbortController();
    const add = vi.spyOn(controller.signal, 'addEventListener');
    const remove = vi.spyOn(controller.signal, 'removeEventListener');
    await run([fake('a'), fake('b')], { signal: controller.signal });
    expect(add).toHaveBeenCalledTimes(1);
    expect(remove).toHaveBeenCalledTimes(1);
    expect(remove.mock.calls[0]?.[1]).toBe(add.mock.calls[0]?.[1]);
  });

  it('rejects malformed options with INVALID_USAGE', async () => {
    for (const options of [
      { timeoutMs: 0 },
      { timeoutMs: -1 },
      { timeoutMs: Number.NaN },
      { cacheTtlMs: -5 },
    ]) {
      expect((await rejection(run([fake('a')], options))).codeName).toBe('INVALID_USAGE');
    }
    expect((await rejection(detect('kvm' as unknown as Driver[]))).codeName).toBe('INVALID_USAGE');
  });
});

describe('formatDetectionTable', () => {
  it('prints one aligned row per candidate with verdict and fix', async () => {
    const detection = await run([
      fake('kvm', { result: { score: 100, version: '8.2.2' } }),
      fake('virtualbox', {
        result: {
          healthy: false,
          score: 50,
          version: '7.0.14',
          reason: 'VT-x is\nin use',
          fix: 'sudo rmmod kvm_intel',
        },
      }),
      fake('mock', { result: { score: 0, version: undefined } }),
    ]);
    const table = formatDetectionTable(detection);
    const lines = table.split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/^driver +installed +healthy +version +score +verdict +fix$/);
    expect(lines[1]).toMatch(/^-+( +-+){6}$/);
    expect(lines[2]).toMatch(/^kvm +yes +yes +8\.2\.2 +100 +selected +-$/);
    expect(lines[3]).toMatch(/^mock +yes +yes +- +0 +score 0: selected only explicitly +-$/);
    expect(lines[4]).toMatch(
      /^virtualbox +yes +no +7\.0\.14 +50 +unhealthy: VT-x is in use +sudo rmmod kvm_intel$/,
    );
    const verdictColumn = lines[0]!.indexOf('verdict');
    for (const line of lines.slice(2)) expect(line[verdictColumn - 1]).toBe(' ');
    expect(lines[2]!.indexOf('selected')).toBe(verdictColumn);
    expect(lines[3]!.indexOf('score 0')).toBe(verdictColumn);
    expect(lines[4]!.indexOf('unhealthy')).toBe(verdictColumn);
    expect(lines.every((line) => line === line.trimEnd())).toBe(true);
  });
});
