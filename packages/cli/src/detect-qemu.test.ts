import { spawnSync } from 'node:child_process';
import { detectAcceleration } from '@cvmweb/core/node';
import { qemu } from '@cvmweb/driver-qemu';
import { describe, expect, it } from 'vitest';
import type { CliIo } from './cli-io.js';
import { knownDrivers } from './drivers.js';
import { run } from './run.js';

const installed = spawnSync('qemu-system-x86_64', ['--version']).status === 0;

describe('cvmweb detect with the QEMU driver', () => {
  it('is a built-in driver', async () => {
    expect((await knownDrivers()).map((driver) => driver.name)).toContain('qemu');
  });

  it.runIf(installed && process.platform === 'linux')(
    'lists qemu with the verdict this machine earns (TCG without VT-x/AMD-V) and its fix',
    async () => {
      const out: string[] = [];
      const io: CliIo = {
        out: (t) => out.push(t),
        err: () => undefined,
        isTTY: false,
        env: {},
        drivers: () => [qemu()],
      };
      expect(await run(['detect', '--json'], io)).toBe(0);
      const parsed = JSON.parse(out.join('')) as {
        winner: string;
        candidates: {
          name: string;
          probe: {
            healthy: boolean;
            score: number;
            reason?: string;
            fix?: string;
            details: Record<string, unknown>;
          };
        }[];
      };
      expect(parsed.winner).toBe('qemu');
      const probe = parsed.candidates.find((c) => c.name === 'qemu')?.probe;
      const facts = await detectAcceleration();
      if (facts.usable) {
        expect(probe).toMatchObject({ healthy: true, score: 85, details: { acceleration: 'kvm' } });
      } else {
        expect(probe).toMatchObject({ healthy: true, score: 20, details: { acceleration: 'tcg' } });
        expect(probe?.reason).toMatch(/^degraded: .*TCG/);
        expect(probe?.fix).toBe(facts.fix);
      }
      const table: string[] = [];
      await run(['detect'], { ...io, out: (t) => table.push(t) });
      expect(table.join('')).toMatch(/^qemu\s+yes\s+yes\s+QEMU \d+\.\d+/m);
    },
  );
});
