import type { IdleProbe, IdleReading, IdleReadOptions, IdleSource } from './idle-source.js';

/**
 * Combines sources: the machine is idle only when **every** source says so,
 * so the idle seconds are the smallest of theirs. Typical use: an input source
 * and {@link hostLoadSource}, so a VM gets the machine only when the user is
 * away and nothing else is busy. Any unknown reading makes the whole reading
 * unknown (never idle by default).
 */
export function combinedIdleSource(...sources: readonly IdleSource[]): IdleSource {
  if (sources.length === 0) throw new TypeError('combinedIdleSource needs at least one source');
  return {
    name: sources.map((s) => s.name).join('+'),
    async probe(options?: IdleReadOptions): Promise<IdleProbe> {
      const probes = await Promise.all(sources.map((s) => s.probe(options)));
      const bad = probes.findIndex((p) => p.status !== 'usable');
      if (bad >= 0) {
        const probe = probes[bad]!;
        return { ...probe, reason: `${sources[bad]!.name}: ${probe.reason ?? probe.status}` };
      }
      return { status: 'usable', score: Math.min(...probes.map((p) => p.score)) };
    },
    async read(options?: IdleReadOptions): Promise<IdleReading> {
      const readings = await Promise.all(sources.map((s) => s.read(options)));
      let idleSeconds = Number.POSITIVE_INFINITY;
      const details: string[] = [];
      for (const [i, reading] of readings.entries()) {
        const name = sources[i]!.name;
        if ('unknown' in reading) return { unknown: `${name}: ${reading.unknown}` };
        idleSeconds = Math.min(idleSeconds, reading.idleSeconds);
        details.push(
          `${name} ${Math.floor(reading.idleSeconds)} s${reading.detail ? `, ${reading.detail}` : ''}`,
        );
      }
      return { idleSeconds, detail: details.join('; ') };
    },
    async dispose() {
      await Promise.all(sources.map((s) => s.dispose?.()));
    },
  };
}
