import { type Clock, systemClock } from '@cvmweb/core';
import type { IdleProbe, IdleReading, IdleSource } from '../idle/idle-source.js';

/** A scriptable idle source for tests and benchmarks. */
export interface FakeIdleSource extends IdleSource {
  /** The user gives input now: idle time restarts from 0 on the clock. */
  input(): void;
  /** Sets the idle seconds as of now (they keep growing with the clock). */
  setIdleSeconds(seconds: number): void;
  /** From now on reads are unknown with `reason` (until `input()` or `setIdleSeconds()`). */
  setUnknown(reason: string): void;
  /** Makes the probe say this. */
  setProbe(probe: IdleProbe): void;
  /** How many times `read()` ran. */
  readonly reads: number;
}

/** Options of {@link fakeIdleSource}. */
export interface FakeIdleSourceOptions {
  /** Time source; pass core's `ManualClock` for virtual time. Default the system clock. */
  clock?: Clock;
  /** Idle seconds at creation. Default 0 (the user just gave input). */
  idleSeconds?: number;
  /** Name reported. Default `fake`. */
  name?: string;
}

/** A test double of {@link IdleSource} whose idle time follows a (virtual) clock. */
export function fakeIdleSource(options: FakeIdleSourceOptions = {}): FakeIdleSource {
  const clock = options.clock ?? systemClock;
  let lastInput = clock.now() - (options.idleSeconds ?? 0) * 1000;
  let unknown: string | undefined;
  let probe: IdleProbe = { status: 'usable', score: 1 };
  let reads = 0;
  return {
    name: options.name ?? 'fake',
    async probe() {
      return probe;
    },
    async read(): Promise<IdleReading> {
      reads += 1;
      if (unknown !== undefined) return { unknown };
      return { idleSeconds: Math.max(0, (clock.now() - lastInput) / 1000) };
    },
    input() {
      unknown = undefined;
      lastInput = clock.now();
    },
    setIdleSeconds(seconds) {
      unknown = undefined;
      lastInput = clock.now() - seconds * 1000;
    },
    setUnknown(reason) {
      unknown = reason;
    },
    setProbe(next) {
      probe = next;
    },
    get reads() {
      return reads;
    },
  };
}
