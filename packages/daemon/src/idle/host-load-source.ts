import { readFile } from 'node:fs/promises';
import { type Clock, systemClock } from '@cvmweb/core';
import type { IdleProbe, IdleReading, IdleReadOptions, IdleSource } from './idle-source.js';

/** Options of {@link hostLoadSource}. */
export interface HostLoadSourceOptions {
  /** Load (percent of all CPUs, 0–100) at or above which the machine counts as busy. Default 25. */
  thresholdPercent?: number;
  /**
   * Processes whose CPU time is not the user's (the VMs' hypervisor processes), subtracted
   * from the host's busy time. Without it a VM at full cap makes the machine look busy.
   */
  excludePids?: () => readonly number[];
  /** Time between the two samples of a first read, ms. Default 250. */
  sampleMs?: number;
  /** Reads a file (tests replay recorded `/proc` files). Default `fs.readFile`, UTF-8. */
  readText?: (path: string) => Promise<string>;
  /** Default the system clock. */
  clock?: Clock;
  /** Default `process.platform`. */
  platform?: NodeJS.Platform;
}

/** The aggregate `cpu` line of `/proc/stat`, in USER_HZ ticks. */
export interface CpuTimes {
  /** user + nice + system + irq + softirq + steal (guest time is already inside user, proc(5)). */
  readonly busy: number;
  /** busy + idle + iowait. */
  readonly total: number;
}

/** Parses the aggregate `cpu` line of `/proc/stat` (fields as in proc(5)). */
export function parseProcStat(text: string): CpuTimes | undefined {
  const line = text.split('\n').find((l) => /^cpu\s/.test(l));
  if (!line) return undefined;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  if (f.length < 4 || f.some((n) => !Number.isFinite(n))) return undefined;
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

/**
 * Parses `/proc/<pid>/stat`: utime + stime (fields 14 and 15, proc(5)), in
 * ticks. The command name (field 2) is in parentheses and may hold spaces, so
 * fields are counted after its closing parenthesis.
 */
export function parsePidStatTicks(text: string): number | undefined {
  const end = text.lastIndexOf(')');
  if (end < 0) return undefined;
  const rest = text
    .slice(end + 1)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3 (state); utime is field 14 → rest[11], stime field 15 → rest[12].
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? utime + stime : undefined;
}

/** Percent of all CPUs used by others between two samples, after subtracting `excludedTicks`. */
export function loadPercent(before: CpuTimes, after: CpuTimes, excludedTicks = 0): number | undefined {
  const total = after.total - before.total;
  if (total <= 0) return undefined;
  const busy = Math.max(0, after.busy - before.busy - Math.max(0, excludedTicks));
  return Math.min(100, (busy / total) * 100);
}

interface Sample {
  readonly at: number;
  readonly cpu: CpuTimes;
  readonly excluded: ReadonlyMap<number, number>;
}

/**
 * Host load as an idle source (Linux, `/proc/stat`): "idle" seconds are the
 * time since the CPU used by other processes was last at or above
 * `thresholdPercent`. Combine it with an input source through
 * {@link combinedIdleSource}: the machine is then idle only when the user is
 * away **and** the machine is not busy with other work.
 *
 * Limits: Linux only (macOS and Windows equivalents are not implemented and
 * report not applicable). The load is sampled at each read, so a burst between
 * two reads counts by its average. Exclude the VMs' own processes with
 * `excludePids`, or the VM's own work counts as load.
 */
export function hostLoadSource(options: HostLoadSourceOptions = {}): IdleSource {
  const threshold = options.thresholdPercent ?? 25;
  const clock = options.clock ?? systemClock;
  const platform = options.platform ?? process.platform;
  const readText = options.readText ?? ((path: string) => readFile(path, 'utf8'));
  const sampleMs = options.sampleMs ?? 250;
  let last: Sample | undefined;
  let calmSince: number | undefined;

  const sample = async (): Promise<Sample | string> => {
    let cpu: CpuTimes | undefined;
    try {
      cpu = parseProcStat(await readText('/proc/stat'));
    } catch (error) {
      return `cannot read /proc/stat: ${error instanceof Error ? error.message : String(error)}`;
    }
    if (!cpu) return '/proc/stat has no cpu line';
    const excluded = new Map<number, number>();
    for (const pid of options.excludePids?.() ?? []) {
      const ticks = await readText(`/proc/${pid}/stat`).then(parsePidStatTicks, () => undefined);
      if (ticks !== undefined) excluded.set(pid, ticks);
    }
    return { at: clock.now(), cpu, excluded };
  };

  const read = async ({ signal }: IdleReadOptions = {}): Promise<IdleReading> => {
    if (platform !== 'linux') return { unknown: 'host load is measured from /proc/stat, on Linux only' };
    if (!last) {
      const first = await sample();
      if (typeof first === 'string') return { unknown: first };
      last = first;
      await clock.sleep(sampleMs, signal);
    }
    const next = await sample();
    if (typeof next === 'string') return { unknown: next };
    const previous = last;
    last = next;
    let excludedTicks = 0;
    for (const [pid, ticks] of next.excluded) {
      const before = previous.excluded.get(pid);
      if (before !== undefined) excludedTicks += ticks - before;
    }
    const load = loadPercent(previous.cpu, next.cpu, excludedTicks);
    if (load === undefined) return { unknown: 'no CPU time passed between two samples' };
    const detail = `load ${load.toFixed(1)} % (threshold ${threshold} %)`;
    if (load >= threshold) {
      calmSince = undefined;
      return { idleSeconds: 0, detail };
    }
    calmSince ??= previous.at;
    return { idleSeconds: Math.max(0, (next.at - calmSince) / 1000), detail };
  };

  return {
    name: 'host-load',
    async probe(): Promise<IdleProbe> {
      if (platform !== 'linux')
        return {
          status: 'not-applicable',
          score: 0,
          reason: 'host load is read from /proc/stat, on Linux only',
        };
      const first = await sample();
      return typeof first === 'string'
        ? { status: 'broken', score: 0, reason: first }
        : { status: 'usable', score: 10, reason: 'machine load, not user input' };
    },
    read,
  };
}
